"""Helpers for the end-to-end tests: a real asap-protocol app served by uvicorn on 127.0.0.1,
JSON-RPC envelopes built with asap's own models, and compression bombs.

The task.request handler follows asap's agent_failover example: it saves one snapshot per
step in the app's snapshot store and answers a TaskResponse whose ``metrics`` asap's
registry turns into a usage event in the configured metering store (``record_task_usage``).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import brotli
import httpx
from asap.models.entities import Capability, Endpoint, Manifest, Skill, StateSnapshot
from asap.models.enums import TaskStatus
from asap.models.envelope import Envelope
from asap.models.ids import generate_id
from asap.models.payloads import TaskMetrics, TaskRequest, TaskResponse
from asap.transport.handlers import HandlerRegistry
from asap.transport.jsonrpc import ASAP_METHOD, JsonRpcRequest

AGENT_ID = "urn:asap:agent:native-e2e"
CLIENT_ID = "urn:asap:agent:e2e-client"
SKILL_ID = "save_step"
# Lifted so a burst of test requests is not answered 429 by asap's default limiter.
RATE_LIMIT = "100000/second;1000000/minute"
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 15.0
HTTP_TIMEOUT = 30.0


def make_manifest() -> Manifest:
    return Manifest(
        id=AGENT_ID,
        name="asap_native e2e agent",
        version="1.0.0",
        description="Saves a snapshot per task step and reports usage",
        capabilities=Capability(
            asap_version="0.1",
            skills=[Skill(id=SKILL_ID, description="save one step of a task")],
            state_persistence=True,
        ),
        endpoints=Endpoint(asap="http://127.0.0.1/asap"),
    )


def make_registry(get_store: Callable[[], Any]) -> HandlerRegistry:
    """A registry whose task.request handler saves ``input["data"]`` as snapshot version
    ``input["step"]`` of ``input["task_id"]`` in ``get_store()`` (a sync SnapshotStore) and
    reports ``input["usage"]`` as the TaskResponse metrics."""

    def save_step(envelope: Envelope, manifest: Manifest) -> Envelope:
        request = TaskRequest.model_validate(envelope.payload_dict)
        task_id = str(request.input["task_id"])
        step = int(request.input["step"])
        snapshot = StateSnapshot(
            id=generate_id(),
            task_id=task_id,
            version=step,
            data=request.input["data"],
            checkpoint=bool(request.input.get("checkpoint", False)),
            created_at=datetime.now(timezone.utc),
        )
        get_store().save(snapshot)
        usage = request.input["usage"]
        response = TaskResponse(
            task_id=task_id,
            status=TaskStatus.COMPLETED,
            result={"snapshot_id": snapshot.id, "version": step},
            metrics=TaskMetrics(
                tokens_in=usage["tokens_in"],
                tokens_out=usage["tokens_out"],
                api_calls=usage["api_calls"],
            ),
        )
        return Envelope(
            asap_version=envelope.asap_version,
            sender=manifest.id,
            recipient=envelope.sender,
            payload_type="task.response",
            payload=response.model_dump(),
            correlation_id=envelope.id,
            trace_id=envelope.trace_id,
        )

    registry = HandlerRegistry()
    registry.register("task.request", save_step)
    return registry


def task_envelope(
    task_id: str,
    step: int,
    data: dict[str, Any],
    usage: dict[str, int],
    *,
    checkpoint: bool = False,
) -> Envelope:
    return Envelope(
        asap_version="0.1",
        sender=CLIENT_ID,
        recipient=AGENT_ID,
        payload_type="task.request",
        payload=TaskRequest(
            conversation_id=f"conv_{task_id}",
            skill_id=SKILL_ID,
            input={
                "task_id": task_id,
                "step": step,
                "data": data,
                "usage": usage,
                "checkpoint": checkpoint,
            },
        ).model_dump(),
        trace_id=generate_id(),
    )


def rpc_body(envelope: Envelope, request_id: str) -> bytes:
    """The JSON-RPC body asap's ASAPClient sends for ``envelope`` (method asap.send)."""
    request = JsonRpcRequest(
        method=ASAP_METHOD,
        params={"envelope": envelope.model_dump(mode="json"), "idempotency_key": request_id},
        id=request_id,
    )
    return json.dumps(request.model_dump(mode="json")).encode("utf-8")


def response_envelope(response: httpx.Response, request_id: str) -> Envelope:
    """The task.response envelope of a successful JSON-RPC answer."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert "error" not in body, body
    assert body["id"] == request_id
    envelope = Envelope.model_validate(body["result"]["envelope"])
    assert envelope.payload_type == "task.response"
    return envelope


def post(
    client: httpx.Client, body: bytes, encoding: str | None, *, path: str = "/asap"
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if encoding is not None:
        headers["content-encoding"] = encoding
    return client.post(path, content=body, headers=headers)


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Runs ``app`` under uvicorn in a thread on a free 127.0.0.1 port; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port: no race with other tests
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-e2e", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn exited during startup")
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start within {STARTUP_TIMEOUT} s")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=SHUTDOWN_TIMEOUT)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("uvicorn did not stop")


# ---- compression bombs ------------------------------------------------------------------------

_BLOCK = 1 << 20
# After a full flush the deflate stream is byte aligned, so this byte starts a new block:
# BFINAL=1 with the reserved block type 3, which every inflater rejects.
_BAD_DEFLATE_BLOCK = b"\x07garbage"


def gzip_bomb(total: int, *, corrupt_tail: bool = False) -> bytes:
    """A gzip member expanding to ``total`` zero bytes (a multiple of 1 MiB).

    With ``corrupt_tail`` the stream continues with an invalid deflate block instead of ending,
    so only a decoder that stops at its output limit reports the size rather than the damage.
    """
    zeros = bytes(_BLOCK)
    encoder = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = encoder.compress(zeros) + encoder.flush(zlib.Z_FULL_FLUSH)
    repeated = encoder.compress(zeros) + encoder.flush(zlib.Z_FULL_FLUSH)
    blocks = total // _BLOCK
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    if corrupt_tail:
        return header + first + repeated * (blocks - 1) + _BAD_DEFLATE_BLOCK
    last = encoder.compress(b"") + encoder.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
    trailer = crc.to_bytes(4, "little") + (total & 0xFFFFFFFF).to_bytes(4, "little")
    return header + first + repeated * (blocks - 1) + last + trailer


def brotli_bomb(total: int, *, corrupt_tail: bool = False) -> bytes:
    """A brotli stream expanding to ``total`` zero bytes (a multiple of 1 MiB); with
    ``corrupt_tail`` it continues with bytes that are not valid brotli instead of ending."""
    encoder = brotli.Compressor(quality=1)
    zeros = bytes(_BLOCK)
    parts = [encoder.process(zeros) + encoder.flush() for _ in range(total // _BLOCK)]
    tail = b"\xff" * 64 if corrupt_tail else encoder.finish()
    return b"".join(parts) + tail
