"""Bounded gzip/brotli compression: a drop-in for ``asap.transport.compression``.

Same names, signatures and results as asap-protocol's module, implemented in C++ (zlib and
libbrotli) with the GIL released for anything but tiny payloads. Brotli is always available:
no Python ``brotli`` package is needed.

Differences that make it safe for untrusted request bodies:

* :func:`decompress_payload` takes ``max_size`` and stops decoding as soon as the output
  passes it, raising :class:`DecompressionLimitExceededError` (an HTTP 413), so a small bomb
  never expands in memory.
* Every invalid, corrupt or truncated input raises a :class:`DecompressionError`, a subclass
  of :class:`OSError` (truncation is also an :class:`EOFError`), which asap-protocol's
  request handler answers with 400. Python's ``gzip.decompress`` raises ``zlib.error`` for
  corrupt deflate data, which that handler does not catch (500).
* An unsupported encoding raises :class:`ValueError`, as before.
"""

from __future__ import annotations

import logging
import threading
from enum import Enum
from typing import TYPE_CHECKING, Any

from asap_native import _core

if TYPE_CHECKING:
    from typing_extensions import Buffer
else:
    Buffer = Any

__all__ = [
    "BROTLI_QUALITY",
    "COMPRESSION_THRESHOLD",
    "GZIP_COMPRESSION_LEVEL",
    "CompressionAlgorithm",
    "CorruptDataError",
    "DecompressionError",
    "DecompressionLimitExceededError",
    "DecompressionStats",
    "Decompressor",
    "TruncatedDataError",
    "compress",
    "compress_brotli",
    "compress_gzip",
    "compress_payload",
    "decompress",
    "decompress_brotli",
    "decompress_gzip",
    "decompress_payload",
    "get_accept_encoding_header",
    "get_supported_encodings",
    "is_brotli_available",
    "select_best_encoding",
    "stats",
]

logger = logging.getLogger(__name__)


# Only payloads at least this large are compressed (bytes), as in asap-protocol.
COMPRESSION_THRESHOLD = 1024
# gzip level and brotli quality asap-protocol uses.
GZIP_COMPRESSION_LEVEL = 6
BROTLI_QUALITY = 4

_SUPPORTED_MESSAGE = "Supported: gzip, br, identity"


class CompressionAlgorithm(str, Enum):
    """Supported compression algorithms (values are Content-Encoding tokens)."""

    GZIP = "gzip"
    BROTLI = "br"
    IDENTITY = "identity"  # No compression


# ---- exceptions -------------------------------------------------------------------------


class DecompressionError(OSError):
    """The compressed data is invalid: bad magic, corrupt data, checksum or length mismatch,
    bytes after the end of the stream, or truncation. asap-protocol answers it with 400."""


class CorruptDataError(DecompressionError):
    """The data is not a valid stream of its encoding."""


class TruncatedDataError(CorruptDataError, EOFError):
    """The data ended before the compressed stream did (an EOFError, as in Python's gzip)."""


def _http_exception_base() -> type[Exception]:
    # asap-protocol's handler returns an HTTPException's status code as is (it answers 413
    # that way today), so the size error is one when FastAPI or Starlette is installed.
    try:
        from fastapi import HTTPException as FastAPIHTTPException
    except ImportError:
        pass
    else:
        return FastAPIHTTPException
    try:
        from starlette.exceptions import HTTPException as StarletteHTTPException
    except ImportError:
        return Exception
    return StarletteHTTPException


_LimitBase: Any = _http_exception_base()


class DecompressionLimitExceededError(_LimitBase):  # type: ignore[misc]
    """The decompressed data passed ``max_size``; decoding stopped there.

    Deliberately neither an OSError nor a ValueError, so handlers that map those to 400 do not
    swallow it. When FastAPI (or Starlette) is installed it is their ``HTTPException`` with
    ``status_code`` 413, so asap-protocol's request handler answers 413 with it as is.
    """

    status_code: int = 413

    def __init__(self, message: str, max_size: int) -> None:
        if _LimitBase is Exception:
            super().__init__(message)
            self.status_code = 413
            self.detail = message
            self.headers = None
        else:
            super().__init__(status_code=413, detail=message)
        self.message = message
        self.max_size = max_size

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, max_size={self.max_size})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.max_size))


# ---- native entry points ----------------------------------------------------------------

# Once: the exceptions the native codecs raise.
_core._register_codec_errors(TruncatedDataError, CorruptDataError, DecompressionLimitExceededError)


def _check_max(max_size: int | None) -> int | None:
    if max_size is None:
        return None
    if isinstance(max_size, bool) or not isinstance(max_size, int):
        raise TypeError(f"max_size must be an int or None, not {type(max_size).__name__}")
    if max_size < 0:
        raise ValueError(f"max_size must be >= 0, got {max_size}")
    return min(max_size, 2**63 - 1)


def decompress(data: Buffer, encoding: str, max_output: int | None = None) -> bytes:
    """Decompresses a whole ``gzip``, ``br`` or ``identity`` body.

    Raises ValueError for another encoding, :class:`DecompressionError` (OSError) for invalid
    data and :class:`DecompressionLimitExceededError` once the output passes ``max_output``.
    """
    result: bytes = _core.decompress(data, encoding, _check_max(max_output))
    return result


def compress(data: Buffer, encoding: str, level: int | None = None) -> bytes:
    """Compresses a whole body; ``level`` is 0-9 for gzip (default 6), 0-11 for brotli
    (default 4), ignored for identity."""
    if level is not None and (isinstance(level, bool) or not isinstance(level, int)):
        raise TypeError(f"level must be an int or None, not {type(level).__name__}")
    if level is not None and level < 0:
        raise ValueError(f"level must be >= 0, got {level}")
    result: bytes = _core.compress(data, encoding, -1 if level is None else level)
    return result


class Decompressor:
    """Streaming decoder: ``feed`` chunks as they arrive, then ``finish``.

    Output never exceeds ``max_output``: the chunk that passes it raises
    :class:`DecompressionLimitExceededError` at once, without decoding further. Any error is
    sticky: later calls raise it again. One thread at a time (RuntimeError otherwise).
    """

    __slots__ = ("_native",)

    def __init__(self, encoding: str, max_output: int | None = None) -> None:
        self._native = _core.Decompressor(encoding, _check_max(max_output))

    def feed(self, data: Buffer) -> bytes:
        """Decodes one chunk and returns the bytes it produced (maybe none)."""
        result: bytes = self._native.feed(data)
        return result

    def finish(self) -> None:
        """Declares the end of input; raises TruncatedDataError unless the stream ended."""
        self._native.finish()

    @property
    def encoding(self) -> str:
        """The Content-Encoding token being decoded."""
        return str(self._native.encoding)

    @property
    def max_output(self) -> int | None:
        """The output limit in bytes (None: unlimited)."""
        limit: int | None = self._native.max_output
        return limit

    @property
    def total_in(self) -> int:
        """Compressed bytes consumed so far."""
        return int(self._native.total_in)

    @property
    def total_out(self) -> int:
        """Decompressed bytes produced so far."""
        return int(self._native.total_out)

    @property
    def finished(self) -> bool:
        """True once finish() succeeded."""
        return bool(self._native.finished)


# ---- asap-protocol's API ----------------------------------------------------------------


def is_brotli_available() -> bool:
    """Always True: brotli is built in."""
    return True


def get_supported_encodings() -> list[str]:
    """Encodings this side can decode, preferred first: ``["br", "gzip"]``."""
    return ["br", "gzip"]


def get_accept_encoding_header() -> str:
    """Value for an Accept-Encoding header: ``"br, gzip, identity"``."""
    return ", ".join([*get_supported_encodings(), "identity"])


def compress_gzip(data: bytes) -> bytes:
    """gzip at asap-protocol's level (6)."""
    return compress(data, "gzip", GZIP_COMPRESSION_LEVEL)


def decompress_gzip(data: bytes) -> bytes:
    """Like ``gzip.decompress`` (members, zero padding), but every bad input is an OSError."""
    return decompress(data, "gzip")


def compress_brotli(data: bytes) -> bytes:
    """brotli at asap-protocol's quality (4)."""
    return compress(data, "br", BROTLI_QUALITY)


def decompress_brotli(data: bytes) -> bytes:
    """Decodes brotli; invalid or truncated data raises an OSError, as asap-protocol's does."""
    return decompress(data, "br")


def compress_payload(
    data: bytes,
    preferred_algorithm: CompressionAlgorithm | None = None,
    threshold: int = COMPRESSION_THRESHOLD,
    prefer_fast_compression: bool = False,
) -> tuple[bytes, CompressionAlgorithm]:
    """Compresses ``data`` when it is at least ``threshold`` bytes and compression helps.

    Uses ``preferred_algorithm`` if given, else brotli, or gzip when
    ``prefer_fast_compression``. Returns ``(data, IDENTITY)`` when skipped or ineffective.
    """
    if len(data) < threshold:
        return data, CompressionAlgorithm.IDENTITY

    if preferred_algorithm is not None:
        try:
            algorithm = CompressionAlgorithm(preferred_algorithm)
        except ValueError:  # asap-protocol compresses anything but br and identity as gzip
            algorithm = CompressionAlgorithm.GZIP
    elif prefer_fast_compression:
        algorithm = CompressionAlgorithm.GZIP
    else:
        algorithm = CompressionAlgorithm.BROTLI

    if algorithm == CompressionAlgorithm.IDENTITY:
        return data, CompressionAlgorithm.IDENTITY

    try:
        if algorithm == CompressionAlgorithm.BROTLI:
            compressed = compress_brotli(data)
        else:
            compressed = compress_gzip(data)
    except Exception as error:  # as asap-protocol: a failed compression sends the original
        logger.warning("asap.compression.failed algorithm=%s error=%s", algorithm.value, error)
        return data, CompressionAlgorithm.IDENTITY

    if len(compressed) >= len(data):
        return data, CompressionAlgorithm.IDENTITY
    return compressed, algorithm


class DecompressionStats:
    """Requests by outcome and bytes in and out, for monitoring (thread-safe).

    Outcomes: ``passed`` (decoded, or identity), ``400`` (invalid, corrupt or truncated data),
    ``413`` (over the limit), ``415`` (unsupported encoding).
    """

    OUTCOMES = ("passed", "400", "413", "415")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = dict.fromkeys(self.OUTCOMES, 0)
        self._bytes_in = 0
        self._bytes_out = 0

    def add(self, outcome: str, bytes_in: int = 0, bytes_out: int = 0) -> None:
        """Counts one request."""
        with self._lock:
            self._requests[outcome] += 1
            self._bytes_in += bytes_in
            self._bytes_out += bytes_out

    def snapshot(self) -> dict[str, Any]:
        """``{"requests": {outcome: n}, "bytes_in": n, "bytes_out": n}``."""
        with self._lock:
            return {
                "requests": dict(self._requests),
                "bytes_in": self._bytes_in,
                "bytes_out": self._bytes_out,
            }


def stats() -> dict[str, Any]:
    """Every :func:`decompress_payload` call in this process: ``{"requests": {"passed", "400",
    "413", "415"}, "bytes_in", "bytes_out"}`` (counted in C++, at no cost to the call)."""
    return _core.payload_stats()


def decompress_payload(data: bytes, encoding: str, max_size: int | None = None) -> bytes:
    """Decompresses a body according to its Content-Encoding header value.

    Args:
        data: Compressed bytes.
        encoding: Content-Encoding value ("gzip", "br", "identity" or "", any case,
            surrounding whitespace ignored). For identity, ``data`` itself is returned.
        max_size: Largest decompressed size accepted; None for no limit.

    Raises:
        ValueError: the encoding is not supported.
        DecompressionError: (an OSError) the data is invalid, corrupt or truncated.
        DecompressionLimitExceededError: the output passed ``max_size`` (map to 413).
    """
    limit = None if max_size is None else _check_max(max_size)
    try:
        result: bytes = _core.decompress_payload(data, encoding, limit)
    except ValueError:
        # The core trims ASCII whitespace and folds ASCII case; asap-protocol uses
        # str.lower().strip(), which also folds other characters: try that spelling too.
        normalized = encoding.lower().strip()
        if normalized == encoding or normalized not in ("gzip", "br", "identity", ""):
            raise ValueError(
                f"Unsupported Content-Encoding: {encoding}. {_SUPPORTED_MESSAGE}"
            ) from None
        result = _core.decompress_payload(data, normalized, limit)
    return result


def select_best_encoding(accept_encoding: str | None) -> CompressionAlgorithm:
    """Picks the best encoding from an Accept-Encoding header (same parser as asap-protocol).

    Example: ``select_best_encoding("br, gzip;q=0.9")`` is ``CompressionAlgorithm.BROTLI``.
    """
    if not accept_encoding:
        return CompressionAlgorithm.IDENTITY

    encodings: dict[str, float] = {}
    for raw_part in accept_encoding.split(","):
        part = raw_part.strip()
        if not part:
            continue
        if ";q=" in part.lower():
            name, q_text = part.lower().split(";q=", 1)
            try:
                quality = float(q_text)
            except ValueError:
                quality = 1.0
        else:
            name = part.lower()
            quality = 1.0
        name = name.strip()
        if name:
            encodings[name] = quality

    supported = get_supported_encodings()
    candidates = [
        (name, quality)
        for name, quality in encodings.items()
        if name in supported or name == "identity"
    ]
    candidates.sort(key=lambda item: item[1], reverse=True)
    if not candidates:
        return CompressionAlgorithm.IDENTITY
    best = candidates[0][0]
    if best == "br":
        return CompressionAlgorithm.BROTLI
    if best == "gzip":
        return CompressionAlgorithm.GZIP
    return CompressionAlgorithm.IDENTITY
