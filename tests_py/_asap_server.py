"""Helpers for the tests that run a real asap-protocol app: the app (asap's ``create_app`` with
an echo or a snapshot-saving handler), uvicorn serving it on 127.0.0.1, and JSON-RPC bodies.

The task.request handler follows asap's agent_failover example: it saves one snapshot per
step in the app's snapshot store and answers a TaskResponse whose ``metrics`` asap's
registry turns into a usage event in the configured metering store (``record_task_usage``).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from asap.models.entities import Manifest, StateSnapshot
from asap.models.enums import TaskStatus
from asap.models.envelope import Envelope
from asap.models.ids import generate_id
from asap.models.payloads import TaskMetrics, TaskRequest, TaskResponse
from asap.transport.handlers import HandlerRegistry, create_default_registry
from asap.transport.jsonrpc import ASAP_METHOD, JsonRpcRequest
from asap.transport.server import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from failover_agent import agent_manifest, reply_to  # the failover demo's asap builders

sys.path.pop(0)

AGENT_ID = "urn:asap:agent:native-e2e"
CLIENT_ID = "urn:asap:agent:e2e-client"
SKILL_ID = "save_step"
# Lifted so a burst of test requests is not answered 429 by asap's default limiter.
RATE_LIMIT = "100000/second;1000000/minute"
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 15.0
HTTP_TIMEOUT = 30.0


def make_manifest() -> Manifest:
    return agent_manifest(
        AGENT_ID,
        "asap_native e2e agent",
        "Saves a snapshot per task step and reports usage",
        skill=(SKILL_ID, "save one step of a task"),
        url="http://127.0.0.1/asap",
    )


def _snapshot_of(envelope: Envelope) -> tuple[TaskRequest, StateSnapshot]:
    """The task request of ``envelope`` and the snapshot its step saves."""
    request = TaskRequest.model_validate(envelope.payload_dict)
    snapshot = StateSnapshot(
        id=generate_id(),
        task_id=str(request.input["task_id"]),
        version=int(request.input["step"]),
        data=request.input["data"],
        checkpoint=bool(request.input.get("checkpoint", False)),
        created_at=datetime.now(timezone.utc),
    )
    return request, snapshot


def _response_to(
    envelope: Envelope, manifest: Manifest, request: TaskRequest, snapshot: StateSnapshot
) -> Envelope:
    """The task.response for a saved step, reporting ``input["usage"]`` as its metrics."""
    usage = request.input["usage"]
    response = TaskResponse(
        task_id=snapshot.task_id,
        status=TaskStatus.COMPLETED,
        result={"snapshot_id": snapshot.id, "version": snapshot.version},
        metrics=TaskMetrics(
            tokens_in=usage["tokens_in"],
            tokens_out=usage["tokens_out"],
            api_calls=usage["api_calls"],
        ),
    )
    return reply_to(envelope, manifest.id, "task.response", response.model_dump())


def make_registry(get_store: Callable[[], Any], *, awaited: bool = False) -> HandlerRegistry:
    """A registry whose task.request handler saves ``input["data"]`` as snapshot version
    ``input["step"]`` of ``input["task_id"]`` in ``get_store()`` and reports ``input["usage"]``
    as the TaskResponse metrics.

    The handler is sync by default (asap runs it in a worker thread; it calls the store's
    ``save``); with ``awaited`` it is a coroutine awaiting the store's ``save_async`` on the
    server's event loop."""

    def save_step(envelope: Envelope, manifest: Manifest) -> Envelope:
        request, snapshot = _snapshot_of(envelope)
        get_store().save(snapshot)
        return _response_to(envelope, manifest, request, snapshot)

    async def save_step_async(envelope: Envelope, manifest: Manifest) -> Envelope:
        request, snapshot = _snapshot_of(envelope)
        await get_store().save_async(snapshot)
        return _response_to(envelope, manifest, request, snapshot)

    registry = HandlerRegistry()
    registry.register("task.request", save_step_async if awaited else save_step)
    return registry


def saving_app(*, awaited: bool = False, **options: Any) -> Any:
    """asap's ``create_app`` with the registry of ``make_registry`` (``awaited``: the async
    handler), saving into the app's own snapshot store; ``options`` go to ``create_app``
    (stores, limits)."""
    holder: dict[str, Any] = {}
    app = create_app(
        make_manifest(),
        make_registry(lambda: holder["app"].state.snapshot_store, awaited=awaited),
        rate_limit=RATE_LIMIT,
        **options,
    )
    holder["app"] = app
    return app


def echo_app(**options: Any) -> Any:
    """asap's ``create_app`` with asap's default registry, whose task.request handler answers
    ``{"echoed": input}``; ``options`` go to ``create_app``."""
    return create_app(make_manifest(), create_default_registry(), rate_limit=RATE_LIMIT, **options)


def echo_body(payload_input: dict[str, Any], request_id: str = "req-1") -> bytes:
    """A JSON-RPC asap.send body carrying a task.request for the echo handler, written out in
    full (no generated ids or times), so its length depends on ``payload_input`` alone."""
    envelope = {
        "asap_version": "0.1",
        "sender": CLIENT_ID,
        "recipient": AGENT_ID,
        "payload_type": "task.request",
        "payload": {"conversation_id": "c1", "skill_id": "echo", "input": payload_input},
    }
    request = {"jsonrpc": "2.0", "method": ASAP_METHOD, "id": request_id}
    return json.dumps({**request, "params": {"envelope": envelope}}).encode()


def echoed(response: httpx.Response) -> Any:
    """The input the echo handler sent back in a successful answer."""
    assert response.status_code == 200, response.text
    return response.json()["result"]["envelope"]["payload"]["result"]["echoed"]


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


def sized_task_body(size: int, task_id: str, request_id: str) -> bytes:
    """A task.request JSON-RPC body of exactly ``size`` bytes: step 1 of ``task_id`` with the data
    ``{"blob": "xx..."}``, the blob as long as it takes."""
    usage = {"tokens_in": 0, "tokens_out": 0, "api_calls": 0}
    request = json.loads(rpc_body(task_envelope(task_id, 1, {"blob": ""}, usage), request_id))
    data = request["params"]["envelope"]["payload"]["input"]["data"]
    data["blob"] = "x" * (size - len(json.dumps(request).encode()))
    body = json.dumps(request).encode()
    assert len(body) == size
    return body


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
