"""DecompressionMiddleware: driven directly as an ASGI app, then in front of a real
asap-protocol server (create_app) run by uvicorn on 127.0.0.1 and called over HTTP."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest
from _asap_server import HTTP_TIMEOUT, echo_app, echo_body, echoed, post, serve
from _bombs import brotli_bomb, gzip_bomb

from asap_native import DecompressionMiddleware
from asap_native.compression import compress_brotli, compress_gzip

pytest.importorskip("uvicorn")

Message = dict[str, Any]


# ---- the middleware as an ASGI app ----------------------------------------------------------


class EchoApp:
    """Reads the whole body, records what it saw, answers 200 with the body."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            self.calls.append({"scope": scope})
            return
        body = b""
        messages = 0
        while True:
            message = await receive()
            messages += 1
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.calls.append({"scope": scope, "body": body, "messages": messages})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


async def drive(
    app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes], *, disconnect: bool = False
) -> tuple[list[Message], int]:
    """Calls ``app`` with the body split into ``chunks``; returns what it sent and how many
    times it called receive()."""
    queue: list[Message] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ] or [{"type": "http.request", "body": b"", "more_body": False}]
    if disconnect:
        queue = queue[:1]
        queue[0]["more_body"] = True
        queue.append({"type": "http.disconnect"})
    received = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal received
        received += 1
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    await app(scope, receive, send)
    return sent, received


def status_of(sent: list[Message]) -> int:
    return int(sent[0]["status"])


def detail_of(sent: list[Message]) -> str:
    return str(json.loads(sent[1]["body"])["detail"])


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


BODY = json.dumps({"items": [{"id": i, "name": f"n{i}"} for i in range(3000)]}).encode()


@pytest.mark.parametrize(
    ("encoding", "packed"),
    [
        ("gzip", gzip.compress(BODY)),
        ("br", brotli.compress(BODY)),
        ("GZip", compress_gzip(BODY)),
        (" br ", compress_brotli(BODY)),
    ],
)
@pytest.mark.parametrize("chunk", [1 << 20, 1000, 7])
async def test_decoded_body_and_corrected_headers(encoding: str, packed: bytes, chunk: int) -> None:
    app = EchoApp()
    headers = [
        (b"host", b"example"),
        (b"content-encoding", encoding.encode()),
        (b"content-length", str(len(packed)).encode()),
        (b"x-custom", b"kept"),
    ]
    sent, _ = await drive(
        DecompressionMiddleware(app, max_size=len(BODY)), headers, split(packed, chunk)
    )
    assert status_of(sent) == 200
    (call,) = app.calls
    assert call["body"] == BODY
    seen = call["scope"]["headers"]
    assert (b"content-length", str(len(BODY)).encode()) in seen
    assert not [h for h in seen if h[0] == b"content-encoding"]
    assert [h for h in seen if h[0] == b"content-length"] == [
        (b"content-length", str(len(BODY)).encode())
    ]
    assert (b"x-custom", b"kept") in seen and (b"host", b"example") in seen


async def test_chunked_transfer_encoding_is_dropped_with_the_coding() -> None:
    app = EchoApp()
    headers = [(b"content-encoding", b"gzip"), (b"transfer-encoding", b"chunked")]
    sent, _ = await drive(DecompressionMiddleware(app), headers, [gzip.compress(BODY)])
    assert status_of(sent) == 200
    names = [name for name, _ in app.calls[0]["scope"]["headers"]]
    assert b"transfer-encoding" not in names and b"content-length" in names


@pytest.mark.parametrize("value", [None, b"identity", b"IDENTITY", b""])
async def test_identity_passes_through_untouched(value: bytes | None) -> None:
    app = EchoApp()
    headers = [(b"content-length", b"5")]
    if value is not None:
        headers.append((b"content-encoding", value))
    sent, _ = await drive(DecompressionMiddleware(app, max_size=1), headers, [b"ab", b"cde"])
    assert status_of(sent) == 200
    (call,) = app.calls
    assert call["body"] == b"abcde"  # identity is not limited: the app's own limit applies
    assert call["scope"]["headers"] == headers
    assert call["messages"] == 2


@pytest.mark.parametrize("value", [b"deflate", b"zstd", b"x-gzip", b"gzip, br", b"br, gzip"])
async def test_unsupported_coding_is_415(value: bytes) -> None:
    app = EchoApp()
    sent, received = await drive(
        DecompressionMiddleware(app), [(b"content-encoding", value)], [gzip.compress(b"{}")]
    )
    assert status_of(sent) == 415
    assert "Unsupported Content-Encoding" in detail_of(sent)
    assert received == 0
    assert app.calls == []


async def test_two_content_encoding_headers_are_415() -> None:
    app = EchoApp()
    headers = [(b"content-encoding", b"gzip"), (b"content-encoding", b"gzip")]
    sent, _ = await drive(
        DecompressionMiddleware(app), headers, [gzip.compress(gzip.compress(b"{}"))]
    )
    assert status_of(sent) == 415


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        (b"gzip", b"definitely not gzip"),
        (b"gzip", gzip.compress(BODY)[:-10]),
        (b"gzip", gzip.compress(b"x")[:10] + b"\xff" * 8),
        (b"gzip", gzip.compress(BODY) + b"trailing"),
        (b"br", b"\xff\xff\xff\xff"),
        (b"br", brotli.compress(BODY)[:-3]),
        (b"br", b""),
    ],
)
async def test_corrupt_or_truncated_is_400(encoding: bytes, data: bytes) -> None:
    app = EchoApp()
    sent, _ = await drive(
        DecompressionMiddleware(app), [(b"content-encoding", encoding)], split(data, 100)
    )
    assert status_of(sent) == 400
    assert detail_of(sent).startswith("Invalid compressed data")
    assert app.calls == []


@pytest.mark.parametrize("encoding", [b"gzip", b"br"])
async def test_limit_exactly_at_and_above(encoding: bytes) -> None:
    packed = gzip.compress(BODY) if encoding == b"gzip" else brotli.compress(BODY)
    headers = [(b"content-encoding", encoding)]
    at = EchoApp()
    sent, _ = await drive(
        DecompressionMiddleware(at, max_size=len(BODY)), headers, split(packed, 50)
    )
    assert status_of(sent) == 200 and at.calls[0]["body"] == BODY
    below = EchoApp()
    sent, _ = await drive(
        DecompressionMiddleware(below, max_size=len(BODY) - 1), headers, split(packed, 50)
    )
    assert status_of(sent) == 413
    assert str(len(BODY) - 1) in detail_of(sent)
    assert below.calls == []


@pytest.mark.parametrize("encoding", [b"gzip", b"br"])
async def test_bomb_is_413_without_reading_the_rest(encoding: bytes) -> None:
    bomb = gzip_bomb(1 << 30) if encoding == b"gzip" else brotli_bomb(1 << 30)
    chunks = split(bomb, 4096)
    app = EchoApp()
    sent, received = await drive(
        DecompressionMiddleware(app, max_size=1 << 20), [(b"content-encoding", encoding)], chunks
    )
    assert status_of(sent) == 413
    assert app.calls == []
    assert received < len(chunks) / 4


async def test_disconnect_mid_body_calls_nothing() -> None:
    app = EchoApp()
    sent, _ = await drive(
        DecompressionMiddleware(app),
        [(b"content-encoding", b"gzip")],
        split(gzip.compress(BODY), 100),
        disconnect=True,
    )
    assert sent == [] and app.calls == []


async def test_after_the_body_receive_defers_to_the_server() -> None:
    seen: list[Message] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] == "http.disconnect":
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent, _ = await drive(
        DecompressionMiddleware(app), [(b"content-encoding", b"gzip")], [gzip.compress(b"")]
    )
    assert [m["type"] for m in seen] == ["http.request", "http.disconnect"]
    assert seen[0] == {"type": "http.request", "body": b"", "more_body": False}
    assert status_of(sent) == 204


async def test_other_scopes_pass_through() -> None:
    app = EchoApp()
    middleware = DecompressionMiddleware(app)
    for kind in ("lifespan", "websocket"):
        scope = {"type": kind, "headers": [(b"content-encoding", b"zstd")]}
        await middleware(scope, None, None)
    assert [c["scope"]["type"] for c in app.calls] == ["lifespan", "websocket"]


def test_max_size_is_checked() -> None:
    with pytest.raises(ValueError):
        DecompressionMiddleware(EchoApp(), max_size=0)
    with pytest.raises(TypeError):
        DecompressionMiddleware(EchoApp(), max_size=1.5)  # type: ignore[arg-type]
    assert DecompressionMiddleware(EchoApp()).max_size == 10 * 1024 * 1024


# ---- a real asap-protocol server behind the middleware, over HTTP ---------------------------

MAX_SIZE = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    # The asap app keeps its own 10 MiB limit, applied to the decoded body it now receives.
    with serve(DecompressionMiddleware(echo_app(), max_size=MAX_SIZE)) as url:
        yield url


@pytest.fixture
def client(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=HTTP_TIMEOUT) as c:
        yield c


TEXT = {"text": "asap " * 60000, "numbers": list(range(5000))}  # ~330 KB of JSON


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("br", brotli.compress),
        ("gzip", compress_gzip),
        ("br", compress_brotli),
    ],
)
def test_server_decodes_real_bodies(client: httpx.Client, encoding: str, compress: Any) -> None:
    assert echoed(post(client, compress(echo_body(TEXT)), encoding)) == TEXT


def test_server_identity_and_no_encoding(client: httpx.Client) -> None:
    assert echoed(post(client, echo_body({"a": 1}), None)) == {"a": 1}
    assert echoed(post(client, echo_body({"a": 2}), "identity")) == {"a": 2}


@pytest.mark.parametrize(
    ("encoding", "body", "status"),
    [
        ("deflate", zlib.compress(b"{}"), 415),
        ("zstd", b"{}", 415),
        ("gzip, br", b"{}", 415),
        ("gzip", b"not gzip", 400),
        ("gzip", gzip.compress(echo_body({"a": 1}))[:-5], 400),
        ("gzip", gzip.compress(b"x")[:10] + b"\xff" * 8, 400),
        ("br", brotli.compress(echo_body({"a": 1}))[:-2], 400),
        ("br", b"\xff\xff\xff\xff", 400),
    ],
)
def test_server_error_statuses(
    client: httpx.Client, encoding: str, body: bytes, status: int
) -> None:
    response = post(client, body, encoding)
    assert response.status_code == status, response.text
    assert "detail" in response.json()


def test_server_limit_at_and_above(client: httpx.Client) -> None:
    # A JSON-RPC body of exactly MAX_SIZE bytes passes; one byte more is 413.
    base = echo_body({"pad": ""})
    exact = echo_body({"pad": "p" * (MAX_SIZE - len(base))})
    assert len(exact) == MAX_SIZE
    assert echoed(post(client, gzip.compress(exact), "gzip")) == {
        "pad": "p" * (MAX_SIZE - len(base))
    }
    over = echo_body({"pad": "p" * (MAX_SIZE - len(base) + 1)})
    assert post(client, gzip.compress(over), "gzip").status_code == 413
    assert post(client, brotli.compress(over), "br").status_code == 413


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_server_bomb_is_413_and_memory_stays_bounded(client: httpx.Client, encoding: str) -> None:
    bomb = gzip_bomb(1 << 30) if encoding == "gzip" else brotli_bomb(1 << 30)
    assert len(bomb) < 2 << 20
    peak_reset = Path("/proc/self/clear_refs")
    can_measure = peak_reset.exists()
    if can_measure:
        try:
            peak_reset.write_text("5")  # resets VmHWM, the peak RSS, for this process
        except OSError:
            can_measure = False
    before = _rss_kib("VmRSS") if can_measure else 0
    response = post(client, bomb, encoding)
    assert response.status_code == 413
    assert str(MAX_SIZE) in response.json()["detail"]
    if can_measure:
        grown_mib = (_rss_kib("VmHWM") - before) / 1024
        # 1 GiB decoded in full would show here; the limit plus working memory must not.
        assert grown_mib < MAX_SIZE / (1 << 20) + 48, grown_mib
    # The server is still fine afterwards, on the same connection.
    assert echoed(post(client, gzip.compress(echo_body({"after": encoding})), "gzip")) == {
        "after": encoding
    }
