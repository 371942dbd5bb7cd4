"""Pure ASGI middleware that decompresses request bodies as they stream in, within a limit.

Put it in front of any ASGI app, e.g. the one asap-protocol's ``create_app()`` builds::

    app = DecompressionMiddleware(create_app(manifest), max_size=10 * 1024 * 1024)

Requests with ``Content-Encoding: gzip`` or ``br`` are decoded chunk by chunk as the server
receives them. The app then sees the plain body, without Content-Encoding and with a correct
Content-Length. The middleware itself answers:

* 415 for any other coding (or a list of several codings),
* 400 for corrupt or truncated data,
* 413 as soon as the decompressed size passes ``max_size``, without reading the rest.

Requests without a Content-Encoding (or with ``identity``) and non-HTTP scopes pass through
untouched. At most ``max_size`` bytes of decoded body are held per request.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from asap_native.compression import (
    DecompressionError,
    DecompressionLimitExceededError,
    DecompressionStats,
    Decompressor,
)

__all__ = ["DEFAULT_MAX_SIZE", "DecompressionMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# asap-protocol's MAX_REQUEST_SIZE.
DEFAULT_MAX_SIZE = 10 * 1024 * 1024

_DECODABLE = ("br", "gzip")
# Headers describing the body as sent, which no longer hold once it is decoded.
_STALE_HEADERS = (b"content-encoding", b"content-length", b"transfer-encoding")


class DecompressionMiddleware:
    """Decompresses gzip/brotli request bodies before the wrapped ASGI app sees them.

    Args:
        app: The ASGI application to wrap.
        max_size: Largest decompressed body accepted, in bytes (default 10 MiB, as
            asap-protocol's ``MAX_REQUEST_SIZE``).
    """

    def __init__(self, app: ASGIApp, max_size: int = DEFAULT_MAX_SIZE) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int):
            raise TypeError(f"max_size must be an int, not {type(max_size).__name__}")
        if max_size < 1:
            raise ValueError(f"max_size must be >= 1, got {max_size}")
        self.app = app
        self.max_size = max_size
        self._stats = DecompressionStats()

    def stats(self) -> dict[str, Any]:
        """Requests by outcome (passed, 400, 413, 415) and body bytes in and out."""
        return self._stats.snapshot()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        codings = _content_codings(scope.get("headers", []))
        if not codings:
            self._stats.add("passed")  # not decoded, so no bytes counted
            await self.app(scope, receive, send)
            return
        if len(codings) > 1 or codings[0] not in _DECODABLE:
            self._stats.add("415")
            await _respond(
                send,
                415,
                f"Unsupported Content-Encoding: {', '.join(codings)}. Supported: br, gzip",
            )
            return

        decoder = Decompressor(codings[0], self.max_size)
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client is gone: nobody to answer
            if message["type"] != "http.request":
                continue
            body = message.get("body", b"")
            received += len(body)
            more_body = bool(message.get("more_body", False))
            try:
                if body:
                    out = decoder.feed(body)
                    if out:
                        chunks.append(out)
                if not more_body:
                    decoder.finish()
            except DecompressionLimitExceededError:
                chunks.clear()
                self._stats.add("413", received)
                await _respond(
                    send,
                    413,
                    f"Decompressed request size exceeds maximum ({self.max_size} bytes)",
                )
                return
            except DecompressionError as error:
                chunks.clear()
                self._stats.add("400", received)
                await _respond(send, 400, f"Invalid compressed data: {error}")
                return
            if not more_body:
                break

        total = sum(len(chunk) for chunk in chunks)
        self._stats.add("passed", received, total)
        headers = [
            (name, value)
            for name, value in scope.get("headers", [])
            if name.lower() not in _STALE_HEADERS
        ]
        headers.append((b"content-length", str(total).encode("ascii")))
        plain_scope = dict(scope)
        plain_scope["headers"] = headers
        await self.app(plain_scope, _replay(chunks, receive), send)


def _content_codings(headers: Any) -> list[str]:
    """Codings named by every Content-Encoding header, in order, identity dropped."""
    codings: list[str] = []
    for name, value in headers:
        if name.lower() != b"content-encoding":
            continue
        for token in value.decode("latin-1").split(","):
            coding = token.strip().lower()
            if coding and coding != "identity":
                codings.append(coding)
    return codings


def _replay(chunks: list[bytes], receive: Receive) -> Receive:
    """A receive() that yields the decoded body, then defers to the server's receive()."""
    pending = chunks
    pending.reverse()  # in place: each chunk is dropped here once handed over
    body_sent = False

    async def replay() -> Message:
        nonlocal body_sent
        if not body_sent:
            chunk = pending.pop() if pending else b""
            body_sent = not pending
            return {"type": "http.request", "body": chunk, "more_body": not body_sent}
        return await receive()

    return replay


async def _respond(send: Send, status: int, detail: str) -> None:
    # No "connection: close": the server decides what to do with a body left unread (uvicorn
    # discards the rest and keeps the connection), and a client still uploading then gets
    # the answer instead of a reset connection.
    body = json.dumps({"detail": detail}).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
