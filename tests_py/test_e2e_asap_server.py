"""End to end: the real asap-protocol server with asap_native inside, over HTTP on 127.0.0.1.

Two ways to wire it:

* explicit: ``create_app(manifest, snapshot_store=asap_native.SQLiteSnapshotStore(path),
  metering_store=asap_native.SQLiteMeteringStore(path))`` wrapped in
  ``asap_native.DecompressionMiddleware``;
* ``asap_native.integration.install()``: an app built by asap's ``create_app`` whose snapshot store
  comes from asap's env factory (ASAP_STORAGE_BACKEND / ASAP_STORAGE_PATH) and whose request
  bodies are decoded by asap's own handler, now with the bounded native decoder.

JSON-RPC ``task.request`` calls (gzip, brotli, identity and no Content-Encoding) reach a handler
that saves one snapshot per step; asap's registry records each task's usage from the
TaskResponse metrics. The state is read back through asap's APIs: the app's own stores and
asap-protocol's SQLite stores opening the same file.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest
from _asap_server import (
    AGENT_ID,
    CLIENT_ID,
    HTTP_TIMEOUT,
    post,
    response_envelope,
    rpc_body,
    saving_app,
    serve,
    sized_task_body,
    task_envelope,
)
from _bombs import brotli_bomb, gzip_bomb

# asap-protocol's own stores, bound before any test can install() the native ones.
from asap.state.stores.sqlite import SQLiteMeteringStore as AsapSQLiteMeteringStore
from asap.state.stores.sqlite import SQLiteSnapshotStore as AsapSQLiteSnapshotStore

import asap_native
import asap_native.integration as native_asap

pytest.importorskip("uvicorn")

UTC = timezone.utc
LIMIT = 512 * 1024  # decompressed request size limit for both servers
TASKS = ("task_alpha", "task_beta", "task_gamma")
STEPS = 6
ENCODINGS: list[tuple[str | None, Callable[[bytes], bytes]]] = [
    ("gzip", gzip.compress),
    ("br", brotli.compress),
    ("identity", lambda body: body),
    (None, lambda body: body),
]

assert AsapSQLiteSnapshotStore.__module__ == "asap.state.stores.sqlite"
assert AsapSQLiteMeteringStore.__module__ == "asap.state.stores.sqlite"


@dataclass
class Sent:
    """What the client sent for one task step, and what the server answered."""

    task_id: str
    step: int
    data: dict[str, Any]
    usage: dict[str, int]
    checkpoint: bool
    encoding: str | None
    snapshot_id: str = ""


@dataclass
class Server:
    url: str
    app: Any
    db: Path
    sent: list[Sent] = field(default_factory=list)


def step_data(task_id: str, step: int) -> dict[str, Any]:
    """A few KiB of JSON with key order, Unicode and nesting worth checking."""
    return {
        "zeta": step,
        "task": task_id,
        "notes": f"étape {step} · 日本語 · 🦀 " * 120,
        "items": [{"i": i, "square": i * i, "half": i / 2} for i in range(step * 15)],
        "alpha": {"nested": {"flags": [True, False, None], "empty": {}}},
    }


def send_all(url: str, jobs: list[Sent], *, workers: int = 6) -> list[Sent]:
    """Posts every job as a JSON-RPC task.request, several at a time; checks each answer."""

    def one(client: httpx.Client, job: Sent) -> Sent:
        envelope = task_envelope(
            job.task_id, job.step, job.data, job.usage, checkpoint=job.checkpoint
        )
        request_id = f"{job.task_id}-{job.step}"
        compress = dict(ENCODINGS)[job.encoding]
        response = post(client, compress(rpc_body(envelope, request_id)), job.encoding)
        answer = response_envelope(response, request_id)
        assert answer.correlation_id == envelope.id
        assert answer.recipient == CLIENT_ID
        payload = answer.payload_dict
        assert payload["task_id"] == job.task_id
        assert payload["status"] == "completed"
        assert payload["result"]["version"] == job.step
        job.snapshot_id = payload["result"]["snapshot_id"]
        return job

    with (
        httpx.Client(base_url=url, timeout=HTTP_TIMEOUT) as client,
        ThreadPoolExecutor(workers) as pool,
    ):
        return list(pool.map(lambda job: one(client, job), jobs))


def make_jobs() -> list[Sent]:
    jobs = []
    for step in range(1, STEPS + 1):
        for n, task_id in enumerate(TASKS):
            encoding = ENCODINGS[(step + n) % len(ENCODINGS)][0]
            jobs.append(
                Sent(
                    task_id=task_id,
                    step=step,
                    data=step_data(task_id, step),
                    usage={"tokens_in": 10 * step + n, "tokens_out": 7 * step, "api_calls": n + 1},
                    checkpoint=step % 3 == 0,
                    encoding=encoding,
                )
            )
    return jobs


def check_snapshots(store: Any, sent: list[Sent]) -> None:
    """Every step the server acknowledged is in ``store`` (any SnapshotStore), as sent."""
    for task_id in TASKS:
        mine = sorted((job for job in sent if job.task_id == task_id), key=lambda j: j.step)
        assert store.list_versions(task_id) == [job.step for job in mine]
        latest = store.get(task_id)
        assert latest is not None and latest.version == STEPS
        for job in mine:
            snapshot = store.get(task_id, job.step)
            assert snapshot is not None
            assert snapshot.id == job.snapshot_id
            assert snapshot.task_id == task_id
            assert snapshot.version == job.step
            assert snapshot.checkpoint == job.checkpoint
            assert snapshot.data == job.data
            assert list(snapshot.data) == list(job.data)
            assert snapshot.created_at.tzinfo is not None


async def check_usage(store: Any, sent: list[Sent], since: datetime) -> None:
    """asap's registry recorded one usage event per task step in ``store`` (a MeteringStore)."""
    events = await store.query(AGENT_ID, since, datetime.now(UTC) + timedelta(minutes=1))
    assert len(events) == len(sent)
    got = sorted(
        (e.task_id, e.consumer_id, e.metrics.tokens_in, e.metrics.tokens_out, e.metrics.api_calls)
        for e in events
    )
    expected = sorted(
        (j.task_id, CLIENT_ID, j.usage["tokens_in"], j.usage["tokens_out"], j.usage["api_calls"])
        for j in sent
    )
    assert got == expected
    assert all(e.agent_id == AGENT_ID and e.metrics.duration_ms >= 0 for e in events)
    assert all(since <= e.timestamp for e in events)

    total = await store.aggregate(AGENT_ID, "day")
    assert total.agent_id == AGENT_ID
    assert total.total_tasks == len(sent)
    assert total.total_tokens == sum(j.usage["tokens_in"] + j.usage["tokens_out"] for j in sent)
    assert total.total_api_calls == sum(j.usage["api_calls"] for j in sent)
    assert total.total_duration == sum(e.metrics.duration_ms for e in events)
    assert (await store.aggregate("urn:asap:agent:nobody", "day")).total_tasks == 0


def check_state_through_asap(server: Server, since: datetime) -> None:
    """The app's stores, then asap-protocol's own stores on the same file, see it all."""
    check_snapshots(server.app.state.snapshot_store, server.sent)
    asyncio.run(check_usage(server.app.state.metering_store, server.sent, since))
    check_snapshots(AsapSQLiteSnapshotStore(server.db), server.sent)
    asyncio.run(check_usage(AsapSQLiteMeteringStore(server.db), server.sent, since))


def assert_nothing_saved(server: Server, task_id: str) -> None:
    assert server.app.state.snapshot_store.list_versions(task_id) == []


def rejected_body(task_id: str) -> bytes:
    usage = {"tokens_in": 1, "tokens_out": 1, "api_calls": 1}
    return rpc_body(task_envelope(task_id, 1, {"x": 1}, usage), f"{task_id}-1")


# ---- explicit wiring: native stores passed to create_app, the middleware in front ------------


@pytest.fixture
def explicit_server(tmp_path: Path) -> Iterator[Server]:
    db = tmp_path / "explicit.db"
    snapshot_store = asap_native.SQLiteSnapshotStore(db)
    metering_store = asap_native.SQLiteMeteringStore(db)
    app = saving_app(snapshot_store=snapshot_store, metering_store=metering_store)
    assert app.state.snapshot_store is snapshot_store
    assert app.state.metering_store is metering_store
    try:
        with serve(asap_native.DecompressionMiddleware(app, max_size=LIMIT)) as url:
            yield Server(url=url, app=app, db=db)
    finally:
        snapshot_store.close()
        metering_store.close()


def test_explicit_wiring_serves_task_requests(explicit_server: Server) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    explicit_server.sent = send_all(explicit_server.url, make_jobs())
    assert {job.encoding for job in explicit_server.sent} == {e for e, _ in ENCODINGS}
    check_state_through_asap(explicit_server, since)


@pytest.mark.parametrize(
    ("encoding", "body", "status"),
    [
        ("gzip", lambda b: gzip.compress(b)[:-12], 400),
        ("br", lambda b: b"\xff\xfe not brotli " + b, 400),
        # Over the middleware's 512 KiB, under asap's own 10 MiB: only the middleware refuses.
        ("gzip", lambda b: gzip_bomb(4 * 1024 * 1024), 413),
        ("br", lambda b: brotli_bomb(4 * 1024 * 1024), 413),
        ("zstd", lambda b: b, 415),
        ("gzip, br", lambda b: brotli.compress(gzip.compress(b)), 415),
    ],
    ids=["gzip-truncated", "br-corrupt", "gzip-bomb", "br-bomb", "zstd", "stacked"],
)
def test_explicit_wiring_refuses_bad_bodies(
    explicit_server: Server, encoding: str, body: Callable[[bytes], bytes], status: int
) -> None:
    with httpx.Client(base_url=explicit_server.url, timeout=HTTP_TIMEOUT) as client:
        response = post(client, body(rejected_body("task_refused")), encoding)
        assert response.status_code == status, response.text
        detail = response.json()["detail"]
        if status == 413:
            assert detail == f"Decompressed request size exceeds maximum ({LIMIT} bytes)"
    assert_nothing_saved(explicit_server, "task_refused")
    # The server carries on: a good request right after is served.
    usage = {"tokens_in": 1, "tokens_out": 2, "api_calls": 3}
    job = Sent("task_after", 1, {"ok": True}, usage, checkpoint=False, encoding="gzip")
    assert send_all(explicit_server.url, [job])[0].snapshot_id
    assert explicit_server.app.state.snapshot_store.get("task_after").data == {"ok": True}


def test_explicit_wiring_hands_decoded_bodies_to_asap(explicit_server: Server) -> None:
    """Decoded but invalid JSON still gets asap's own JSON-RPC parse error, not a crash."""
    with httpx.Client(base_url=explicit_server.url, timeout=HTTP_TIMEOUT) as client:
        response = post(client, brotli.compress(b'{"jsonrpc": "2.0", "method": '), "br")
    assert response.status_code == 200
    assert response.json()["error"]["code"] == -32700


# ---- install(): asap's own factories and decoder ---------------------------------------------


@pytest.fixture
def installed_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    db = tmp_path / "installed.db"
    monkeypatch.setenv("ASAP_STORAGE_BACKEND", "sqlite")
    monkeypatch.setenv("ASAP_STORAGE_PATH", str(db))
    stores: list[Any] = []
    try:
        native_asap.install(max_size=LIMIT)
        from asap.state.stores import SQLiteMeteringStore  # resolved now: the native class

        metering_store = SQLiteMeteringStore(db)
        stores.append(metering_store)
        # No snapshot_store: create_app asks asap's create_snapshot_store() for one.
        app = saving_app(metering_store=metering_store, max_request_size=LIMIT)
        stores.append(app.state.snapshot_store)
        assert type(app.state.snapshot_store) is asap_native.SQLiteSnapshotStore
        assert app.state.snapshot_store.db_path == db
        assert type(metering_store) is asap_native.SQLiteMeteringStore
        # No middleware: asap's request handler decodes the bodies itself.
        with serve(app) as url:
            yield Server(url=url, app=app, db=db)
    finally:
        native_asap.uninstall()
        for store in stores:
            store.close()


def test_installed_server_serves_task_requests(installed_server: Server) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    installed_server.sent = send_all(installed_server.url, make_jobs())
    check_state_through_asap(installed_server, since)


@pytest.mark.parametrize("bomb", [gzip_bomb, brotli_bomb], ids=["gzip", "br"])
def test_installed_server_stops_bombs_at_the_limit(installed_server: Server, bomb: Any) -> None:
    encoding = "gzip" if bomb is gzip_bomb else "br"
    # Damaged after 16 MiB of zeros: asap's shipped decoder would inflate up to the damage and
    # fail there (500 for gzip's zlib.error); the native one answers 413 at 512 KiB.
    with httpx.Client(base_url=installed_server.url, timeout=HTTP_TIMEOUT) as client:
        response = post(client, bomb(16 * 1024 * 1024, corrupt_tail=True), encoding)
    assert response.status_code == 413, response.text
    assert response.json()["detail"] == (
        f"Decompressed request size (more than {LIMIT} bytes) exceeds maximum ({LIMIT} bytes)"
    )


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", lambda b: gzip.compress(b)[:-12]),
        ("gzip", lambda b: b"\x1f\x8b\x08\x00" + bytes(6) + b"\x07 bad deflate block"),
        ("br", lambda b: brotli.compress(b)[:-3]),
    ],
    ids=["gzip-truncated", "gzip-bad-block", "br-truncated"],
)
def test_installed_server_answers_corrupt_bodies_with_400(
    installed_server: Server, encoding: str, body: Callable[[bytes], bytes]
) -> None:
    with httpx.Client(base_url=installed_server.url, timeout=HTTP_TIMEOUT) as client:
        response = post(client, body(rejected_body("task_corrupt")), encoding)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("Invalid compressed data")
    assert_nothing_saved(installed_server, "task_corrupt")


def test_installed_server_limit_is_exact(installed_server: Server) -> None:
    """A body that decodes to exactly the limit is served; one byte more is refused (413)."""
    exact = sized_task_body(LIMIT, "task_edge", "edge")
    over = sized_task_body(LIMIT + 1, "task_edge", "over")
    with httpx.Client(base_url=installed_server.url, timeout=HTTP_TIMEOUT) as client:
        response_envelope(post(client, gzip.compress(exact), "gzip"), "edge")
        refused = post(client, brotli.compress(over), "br")
    assert refused.status_code == 413, refused.text
    saved = installed_server.app.state.snapshot_store.get("task_edge")
    sent = json.loads(exact)["params"]["envelope"]["payload"]["input"]["data"]
    assert saved.data == sent == {"blob": "x" * len(sent["blob"])}
