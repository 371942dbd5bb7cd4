"""asap_native.compression against Python's gzip/zlib and the brotli package as oracles,
its exception contract, and its fit with asap-protocol's request handler."""

from __future__ import annotations

import gzip
import inspect
import io
import json
import random
import zlib
from typing import Any

import brotli
import pytest
from _bombs import brotli_bomb, gzip_bomb
from _threads import run_threads
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asap_native import compression as native
from asap_native.compression import (
    CorruptDataError,
    DecompressionError,
    DecompressionLimitExceededError,
    Decompressor,
    TruncatedDataError,
)

asap_compression = pytest.importorskip("asap.transport.compression")


def json_body(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    items = []
    total = 0
    while total < size:
        item = {"id": len(items), "name": f"task-{rng.randrange(1000)}", "done": rng.random() < 0.5}
        items.append(item)
        total += 40
    return json.dumps({"items": items}).encode()[:size]


BODIES = {
    "empty": b"",
    "one-byte": b"x",
    "json-1k": json_body(1024),
    "json-100k": json_body(100 * 1024, 2),
    "random-70k": random.Random(3).randbytes(70000),
    "zeros-300k": bytes(300000),
}


# ---- oracles ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BODIES)
def test_decodes_python_gzip_and_brotli(name: str) -> None:
    body = BODIES[name]
    assert native.decompress_payload(gzip.compress(body), "gzip") == body
    assert native.decompress_payload(gzip.compress(body, 1, mtime=0), "gzip") == body
    assert native.decompress_payload(brotli.compress(body), "br") == body
    assert native.decompress_payload(brotli.compress(body, quality=11, lgwin=24), "br") == body
    assert native.decompress_gzip(gzip.compress(body)) == body
    assert native.decompress_brotli(brotli.compress(body, quality=4)) == body


@pytest.mark.parametrize("name", BODIES)
def test_python_decodes_what_it_compresses(name: str) -> None:
    body = BODIES[name]
    assert gzip.decompress(native.compress_gzip(body)) == body
    assert zlib.decompress(native.compress_gzip(body), wbits=31) == body
    assert brotli.decompress(native.compress_brotli(body)) == body
    for level in range(10):
        assert gzip.decompress(native.compress(body, "gzip", level)) == body
    for quality in (0, 5, 11):
        assert brotli.decompress(native.compress(body, "br", quality)) == body


def test_defaults_are_asaps_levels() -> None:
    body = BODIES["json-100k"]
    assert native.compress_gzip(body) == native.compress(body, "gzip", 6)
    assert native.compress_brotli(body) == native.compress(body, "br", 4)
    # Same zlib, level and strategy as gzip.compress(level 6): the same deflate bytes, only the
    # 10-byte headers differ (mtime, OS).
    if zlib.ZLIB_RUNTIME_VERSION == zlib.ZLIB_VERSION:
        assert native.compress_gzip(body)[10:] == gzip.compress(body, 6)[10:]


def test_gzip_members_and_padding_like_python() -> None:
    a, b = BODIES["json-1k"], BODIES["random-70k"]
    for data in (
        gzip.compress(a) + gzip.compress(b),
        gzip.compress(a) + b"\x00" * 5 + gzip.compress(b) + b"\x00",
        gzip.compress(b"") * 3,
        native.compress_gzip(a) * 4,
    ):
        assert native.decompress_payload(data, "gzip") == gzip.decompress(data)


def test_gzip_header_fields_like_python() -> None:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="body.json", mode="wb", fileobj=buffer, mtime=123) as f:
        f.write(BODIES["json-1k"])
    assert b"body.json\x00" in buffer.getvalue()
    assert native.decompress_gzip(buffer.getvalue()) == BODIES["json-1k"]


def _python_gzip(data: bytes) -> bytes | None:
    """Python's gzip.decompress, plus RFC 1952's rule that it skips: a member whose header has
    a reserved FLG bit set (or a wrong FHCRC) is an error, in every member. zlib, which reads
    each member's header itself, enforces it; so does asap_native."""
    try:
        expected = gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return None
    rest = data
    while rest.strip(b"\x00"):  # zero bytes between and after members are padding
        rest = rest.lstrip(b"\x00")
        member = zlib.decompressobj(wbits=31)
        try:
            member.decompress(rest)
        except zlib.error:
            return None
        rest = member.unused_data
    return expected


def _native_gzip(data: bytes) -> bytes | None:
    try:
        return native.decompress_gzip(data)
    except DecompressionError:
        return None


def test_gzip_agrees_with_python_on_damaged_input() -> None:
    valid = gzip.compress(BODIES["json-1k"]) + gzip.compress(b"second member")
    damaged = [valid[:cut] for cut in range(len(valid))]
    damaged += [valid + tail for tail in (b"x", b"\x00x", b"\x1f", b"\x1f\x8b", b"\xff" * 9)]
    for position in range(len(valid)):
        flipped = bytearray(valid)
        flipped[position] ^= 0x24
        damaged.append(bytes(flipped))
    for data in damaged:
        assert _native_gzip(data) == _python_gzip(data), data


@pytest.mark.parametrize("member", [0, 1, 2])
@pytest.mark.parametrize("bit", [0x20, 0x40, 0x80])
def test_gzip_reserved_flags_are_rejected_in_every_member(member: int, bit: int) -> None:
    # RFC 1952: a decoder must give an error when a reserved FLG bit is set. Python ignores
    # them; zlib (and so asap_native) rejects the stream, whichever member it is in.
    members = [gzip.compress(body) for body in (b"hello", b"", b"world" * 100)]
    flagged = bytearray(members[member])
    flagged[3] |= bit
    members[member] = bytes(flagged)
    data = b"".join(members)
    assert gzip.decompress(data)  # Python accepts it
    assert _python_gzip(data) is None  # the oracle, like zlib, does not
    with pytest.raises(CorruptDataError):
        native.decompress_gzip(data)
    with pytest.raises(CorruptDataError):
        native.decompress_payload(data, "gzip")


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.integers(0, 400), st.integers(0, 255))
def test_gzip_oracle_on_random_mutations(body: bytes, position: int, mask: int) -> None:
    data = bytearray(gzip.compress(body) + gzip.compress(body[::-1]))
    if position < len(data):
        data[position] ^= mask
    assert _native_gzip(bytes(data)) == _python_gzip(bytes(data))


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=300), st.integers(0, 400), st.integers(1, 255))
def test_brotli_oracle_on_random_mutations(body: bytes, position: int, mask: int) -> None:
    data = bytearray(brotli.compress(body, quality=4))
    if position < len(data):
        data[position] ^= mask
    try:
        expected: bytes | None = brotli.decompress(bytes(data))
    except brotli.error:
        expected = None
    try:
        actual: bytes | None = native.decompress_brotli(bytes(data))
    except DecompressionError:
        actual = None
    assert actual == expected


@settings(max_examples=examples(100), deadline=None)
@given(st.binary(max_size=5000), st.sampled_from(["gzip", "br", "identity"]))
def test_round_trip_property(body: bytes, encoding: str) -> None:
    packed = native.compress(body, encoding)
    assert native.decompress(packed, encoding) == body
    assert native.decompress(packed, encoding, len(body)) == body
    if body:
        with pytest.raises(DecompressionLimitExceededError):
            native.decompress(packed, encoding, len(body) - 1)


def test_accepts_any_bytes_like_input() -> None:
    body = BODIES["json-1k"]
    packed = native.compress_gzip(body)
    assert native.decompress(bytearray(packed), "gzip") == body
    assert native.decompress(memoryview(packed), "gzip") == body
    assert native.compress(bytearray(body), "br") == native.compress(body, "br")
    with pytest.raises(TypeError):
        native.decompress("text", "gzip")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native.compress(12, "gzip")  # type: ignore[arg-type]


# ---- exception contract -------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["deflate", "zstd", "x-gzip", "gzip, br", "compress"])
def test_unsupported_encoding_is_value_error(encoding: str) -> None:
    with pytest.raises(ValueError, match="Unsupported Content-Encoding"):
        native.decompress_payload(b"data", encoding)
    with pytest.raises(ValueError):
        native.decompress(b"data", encoding)
    with pytest.raises(ValueError):
        native.compress(b"data", encoding)
    with pytest.raises(ValueError):
        Decompressor(encoding)


def test_encoding_is_normalised_like_asap() -> None:
    body = BODIES["json-1k"]
    assert native.decompress_payload(gzip.compress(body), " GZIP ") == body
    assert native.decompress_payload(brotli.compress(body), "Br") == body
    assert native.decompress_payload(body, "identity") is body
    assert native.decompress_payload(body, "") is body
    assert native.decompress_payload(body, " IDENTITY ") is body
    # str.lower().strip() as asap-protocol: other whitespace and case folding too.
    for spelling in ("gzip\x0b", "\x0cgzip", "gzip\u00a0", "\u2003GZIP"):
        packed = gzip.compress(body)
        assert asap_compression.decompress_payload(packed, spelling) == body
        assert native.decompress_payload(packed, spelling) == body
    with pytest.raises(ValueError, match="Unsupported Content-Encoding: gzip\u00a0x"):
        native.decompress_payload(body, "gzip\u00a0x")


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"not gzip at all", "gzip"),
        (b"\x1f\x8c" + gzip.compress(b"x")[2:], "gzip"),
        (gzip.compress(b"x")[:10] + b"\xff" * 8, "gzip"),  # invalid deflate: zlib.error in asap
        (gzip.compress(b"hello") + b"garbage", "gzip"),
        (b"\xff\xff\xff\xff", "br"),
        (brotli.compress(b"hello") + b"\x00", "br"),
    ],
)
def test_corrupt_data_is_an_oserror_but_not_truncation(data: bytes, encoding: str) -> None:
    with pytest.raises(CorruptDataError) as caught:
        native.decompress_payload(data, encoding)
    assert isinstance(caught.value, OSError)
    assert isinstance(caught.value, DecompressionError)
    assert not isinstance(caught.value, TruncatedDataError)
    assert not isinstance(caught.value, DecompressionLimitExceededError)


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_truncated_data_is_an_oserror_and_eoferror(encoding: str) -> None:
    packed = native.compress(BODIES["json-100k"], encoding)
    for cut in (1, len(packed) // 2, len(packed) - 1):
        with pytest.raises(TruncatedDataError) as caught:
            native.decompress_payload(packed[:cut], encoding)
        assert isinstance(caught.value, OSError)
        assert isinstance(caught.value, EOFError)
        assert isinstance(caught.value, CorruptDataError)


def test_empty_input_matches_python() -> None:
    assert native.decompress_payload(b"", "gzip") == gzip.decompress(b"") == b""
    with pytest.raises(TruncatedDataError):
        native.decompress_payload(b"", "br")
    with pytest.raises(brotli.error):
        brotli.decompress(b"")


@pytest.mark.parametrize("encoding", ["gzip", "br", "identity"])
def test_limit_exactly_at_below_and_above(encoding: str) -> None:
    body = BODIES["json-100k"]
    packed = native.compress(body, encoding)
    assert native.decompress_payload(packed, encoding, max_size=len(body)) == body
    assert native.decompress_payload(packed, encoding, max_size=len(body) + 1) == body
    with pytest.raises(DecompressionLimitExceededError) as caught:
        native.decompress_payload(packed, encoding, max_size=len(body) - 1)
    error = caught.value
    assert error.max_size == len(body) - 1
    assert error.status_code == 413
    assert not isinstance(error, (OSError, ValueError, EOFError))
    assert str(len(body) - 1) in str(error)
    with pytest.raises(DecompressionLimitExceededError):
        native.decompress_payload(packed, encoding, max_size=0)
    assert native.decompress_payload(native.compress(b"", encoding), encoding, max_size=0) == b""


def test_limit_error_is_fastapis_http_413() -> None:
    fastapi = pytest.importorskip("fastapi")
    error = DecompressionLimitExceededError("too big", 10)
    assert isinstance(error, fastapi.HTTPException)
    assert (error.status_code, error.detail, error.max_size) == (413, "too big", 10)
    assert str(error) == "too big"
    assert "max_size=10" in repr(error)


def test_bad_max_size() -> None:
    with pytest.raises(ValueError):
        native.decompress_payload(b"", "gzip", max_size=-1)
    with pytest.raises(TypeError):
        native.decompress_payload(b"", "gzip", max_size="10")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native.decompress_payload(b"", "gzip", max_size=True)
    assert native.decompress_payload(gzip.compress(b"abc"), "gzip", max_size=2**80) == b"abc"


def test_bad_levels() -> None:
    with pytest.raises(ValueError):
        native.compress(b"x", "gzip", 10)
    with pytest.raises(ValueError):
        native.compress(b"x", "br", 12)
    with pytest.raises(ValueError):
        native.compress(b"x", "gzip", -1)
    with pytest.raises(TypeError):
        native.compress(b"x", "gzip", 1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_bombs_stop_at_the_limit(encoding: str) -> None:
    bomb = gzip_bomb(1 << 30) if encoding == "gzip" else brotli_bomb(1 << 30)
    assert len(bomb) < 2 << 20
    with pytest.raises(DecompressionLimitExceededError):
        native.decompress_payload(bomb, encoding, max_size=10 << 20)
    decoder = Decompressor(encoding, 10 << 20)
    held = 0

    def feed_all() -> None:
        nonlocal held
        for at in range(0, len(bomb), 65536):
            held += len(decoder.feed(bomb[at : at + 65536]))

    with pytest.raises(DecompressionLimitExceededError):
        feed_all()
    assert held <= 10 << 20
    assert decoder.total_out == (10 << 20) + 1
    assert decoder.total_in < len(bomb)


def test_gzip_bomb_builder_is_a_valid_stream() -> None:
    bomb = gzip_bomb(8 << 20)
    assert gzip.decompress(bomb) == bytes(8 << 20)


def test_brotli_bomb_builder_is_a_valid_stream() -> None:
    assert brotli.decompress(brotli_bomb(8 << 20)) == bytes(8 << 20)
    assert brotli.decompress(brotli_bomb(8 << 20, quality=4, lgwin=24)) == bytes(8 << 20)


# ---- the streaming Decompressor -----------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "br", "identity"])
def test_streaming_every_split_point(encoding: str) -> None:
    body = BODIES["json-1k"][:300]
    packed = native.compress(body, encoding)
    for cut in range(len(packed) + 1):
        decoder = Decompressor(encoding, len(body))
        out = decoder.feed(packed[:cut]) + decoder.feed(packed[cut:])
        decoder.finish()
        assert out == body
        assert (decoder.total_in, decoder.total_out, decoder.finished) == (
            len(packed),
            len(body),
            True,
        )


def test_streaming_truncation_and_stickiness() -> None:
    packed = native.compress_gzip(BODIES["json-1k"])
    decoder = Decompressor("gzip")
    decoder.feed(packed[:-1])
    with pytest.raises(TruncatedDataError):
        decoder.finish()
    with pytest.raises(TruncatedDataError):
        decoder.feed(packed[-1:])

    done = Decompressor("gzip")
    done.feed(packed)
    done.finish()
    with pytest.raises(ValueError):
        done.feed(b"more")


def test_streaming_properties() -> None:
    decoder = Decompressor("BR", 100)
    assert (decoder.encoding, decoder.max_output, decoder.total_in, decoder.finished) == (
        "br",
        100,
        0,
        False,
    )
    assert Decompressor("gzip").max_output is None


def test_threads_decode_concurrently_and_correctly() -> None:
    payloads = [
        (native.compress(json_body(200_000, seed), enc), enc)
        for seed in range(4)
        for enc in ("gzip", "br")
    ]
    expected = [native.decompress(p, enc) for p, enc in payloads]

    def work(offset: int) -> None:
        for i in range(20):
            k = (offset + i) % len(payloads)
            data, encoding = payloads[k]
            assert native.decompress(data, encoding, 1 << 20) == expected[k]
            assert (
                native.decompress(native.compress(expected[k], encoding), encoding) == (expected[k])
            )

    run_threads(4, work, timeout=60)


# ---- asap-protocol's API and handler ------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "CompressionAlgorithm",
        "compress_payload",
        "decompress_payload",
        "select_best_encoding",
        "get_supported_encodings",
        "get_accept_encoding_header",
        "is_brotli_available",
        "compress_gzip",
        "decompress_gzip",
        "compress_brotli",
        "decompress_brotli",
        "COMPRESSION_THRESHOLD",
        "GZIP_COMPRESSION_LEVEL",
    ],
)
def test_same_names_as_asap(name: str) -> None:
    ours = getattr(native, name)
    theirs = getattr(asap_compression, name)
    if callable(theirs) and not isinstance(theirs, type):
        ours_params = list(inspect.signature(ours).parameters)
        theirs_params = list(inspect.signature(theirs).parameters)
        assert ours_params[: len(theirs_params)] == theirs_params
    elif not callable(theirs):
        assert ours == theirs


def test_enum_matches_asaps() -> None:
    ours = native.CompressionAlgorithm
    theirs = asap_compression.CompressionAlgorithm
    assert [m.value for m in ours] == [m.value for m in theirs]
    for member in theirs:
        assert ours(member) == member
        assert ours(member.value) is ours[member.name]


def test_encoding_lists_match_asap_with_brotli() -> None:
    assert native.is_brotli_available()
    assert native.get_supported_encodings() == asap_compression.get_supported_encodings()
    assert native.get_accept_encoding_header() == asap_compression.get_accept_encoding_header()


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "gzip",
        "br",
        "br, gzip;q=0.9, identity;q=0.5",
        "gzip;q=1.0, br;q=0.5",
        "identity",
        "deflate, zstd",
        "gzip;q=abc, br;q=0.1",
        " , GZIP ,",
        "*",
    ],
)
def test_select_best_encoding_matches_asap(header: str | None) -> None:
    assert native.select_best_encoding(header) == asap_compression.select_best_encoding(header)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"prefer_fast_compression": True},
        {"preferred_algorithm": "gzip"},
        {"preferred_algorithm": "br"},
        {"preferred_algorithm": "identity"},
        {"threshold": 10**9},
        {"threshold": 0},
    ],
)
@pytest.mark.parametrize("name", ["json-1k", "json-100k", "random-70k", "one-byte", "empty"])
def test_compress_payload_matches_asap(kwargs: dict[str, Any], name: str) -> None:
    body = BODIES[name]
    if "preferred_algorithm" in kwargs:
        kwargs = {
            **kwargs,
            "preferred_algorithm": native.CompressionAlgorithm(kwargs["preferred_algorithm"]),
        }
    ours, our_algorithm = native.compress_payload(body, **kwargs)
    theirs, their_algorithm = asap_compression.compress_payload(body, **kwargs)
    assert our_algorithm == their_algorithm
    assert isinstance(our_algorithm, native.CompressionAlgorithm)
    assert asap_compression.decompress_payload(ours, our_algorithm.value) == body
    assert native.decompress_payload(theirs, their_algorithm.value) == body


def test_asaps_own_decompress_leaks_zlib_error() -> None:
    # Why the drop-in matters: asap's handler catches ValueError, OSError and EOFError only.
    bad = gzip.compress(b"x")[:10] + b"\xff" * 8
    with pytest.raises(zlib.error):
        asap_compression.decompress_payload(bad, "gzip")
    assert not issubclass(zlib.error, (OSError, EOFError, ValueError))
    with pytest.raises(OSError):
        native.decompress_payload(bad, "gzip")


async def test_asaps_handler_with_the_drop_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """asap's own request handler, its decompress_payload swapped for ours with a limit:
    corrupt input gets 400 where asap alone answers an internal error, and a bomb gets 413
    at once."""
    import functools

    import httpx
    from _asap_server import echo_app, echo_body, echoed
    from asap.transport import _request_handler

    limit = 1 << 20
    app = echo_app(max_request_size=limit)
    headers = {"content-type": "application/json"}
    bad_deflate = gzip.compress(b"x")[:10] + b"\xff" * 8
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

        async def post(body: bytes, encoding: str) -> httpx.Response:
            return await client.post(
                "/asap", content=body, headers={**headers, "content-encoding": encoding}
            )

        # asap-protocol's own decompress leaks zlib.error: its handler's catch-all turns it
        # into a JSON-RPC "Internal error" instead of a 400.
        before = await post(bad_deflate, "gzip")
        assert before.json()["error"]["code"] == -32603

        monkeypatch.setattr(
            _request_handler,
            "decompress_payload",
            functools.partial(native.decompress_payload, max_size=limit),
        )
        ok = await post(native.compress_gzip(echo_body({"t": "hello"})), "gzip")
        assert echoed(ok) == {"t": "hello"}
        assert (await post(native.compress_brotli(echo_body({"t": "hi"})), "br")).status_code == 200
        assert (await post(bad_deflate, "gzip")).status_code == 400
        assert (await post(b"\xff\xff\xff", "br")).status_code == 400
        truncated = native.compress_gzip(echo_body({"t": "x"}))[:-4]
        assert (await post(truncated, "gzip")).status_code == 400
        bomb = await post(gzip_bomb(64 << 20), "gzip")
        assert bomb.status_code == 413
        assert "exceeds" in bomb.json()["detail"]
        assert (await post(brotli_bomb(64 << 20), "br")).status_code == 413


def test_benchmark_quick_run_returns_figures() -> None:
    """bench/bench_compression.py runs and reports every case (numbers are not checked)."""
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)  # the bench package
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench import bench_compression

    result = bench_compression.run(quick=True)
    throughput = result["figures"]["throughput"]
    assert len(throughput) == len(bench_compression.SIZES) * len(bench_compression.ENCODINGS)
    for figures in throughput.values():
        assert figures["ratio_vs_python"] > 0
        assert set(figures["scaling"]) == {"asap_native", "python"}
    for entry in result["figures"]["bombs"].values():
        assert entry["asap_native"]["rejected"] and entry["asap-protocol"]["rejected"]
    assert "### Decompression bombs" in result["markdown"]
    assert all({"name", "value", "target", "passed"} <= set(c) for c in result["checks"])
