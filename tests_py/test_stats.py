"""stats() on every store: operations, errors by kind, busy waits, group commit."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

import asap_native
from asap_native.models import StateSnapshot, UsageEvent

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def snapshot(task: str, version: int) -> StateSnapshot:
    return StateSnapshot(
        id=f"s{version}", task_id=task, version=version, data={"v": version}, created_at=NOW
    )


@pytest.mark.parametrize("factory", ["sqlite", "memory"])
def test_operations_and_errors_are_counted(tmp_path: Path, factory: str) -> None:
    store = (
        asap_native.SQLiteSnapshotStore(tmp_path / "s.db")
        if factory == "sqlite"
        else asap_native.InMemorySnapshotStore()
    )
    store.save(snapshot("t", 1))
    store.save(snapshot("t", 2))
    assert store.get("t").version == 2
    assert store.list_versions("t") == [1, 2]
    with pytest.raises(TypeError):
        store.save(object())  # rejected by the bindings before it reaches the store: not counted
    figures = store.stats()
    ops = figures["operations"]
    assert ops["save"]["count"] == 2 and ops["save"]["errors"] == 0
    assert ops["get"]["count"] == 1 and ops["get"]["errors"] == 0
    assert ops["list_versions"]["count"] == 1
    assert ops["delete"]["count"] == 0
    latency = ops["save"]["latency_ms"]
    assert 0 < latency["p50"] <= latency["max"]
    assert set(figures["errors"]) >= {"busy", "read_only", "invalid_argument", "closed"}
    assert sum(figures["errors"].values()) == 0


@pytest.mark.same_sqlite_in_process
def test_busy_waits_and_busy_errors(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    store = asap_native.SQLiteSnapshotStore(path, timeout=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    with pytest.raises(asap_native.DatabaseLockedError):
        store.save(snapshot("t", 1))
    holder.execute("COMMIT")
    holder.close()
    store.save(snapshot("t", 1))
    figures = store.stats()
    assert figures["busy_waits"] == 1
    assert figures["errors"]["busy"] == 1
    assert figures["operations"]["save"] == {
        **figures["operations"]["save"],
        "count": 2,
        "errors": 1,
    }


async def test_group_commit_figures(tmp_path: Path) -> None:
    store = asap_native.SQLiteAsyncSnapshotStore(tmp_path / "g.db")
    await asyncio.gather(*(store.save(snapshot(f"t{i}", 1)) for i in range(100)))
    store.close()  # every batch is counted once the queue is done
    group = store.stats()["group_commit"]
    assert group["writes"] == 100
    assert 1 <= group["batches"] <= 100
    assert group["largest_batch"] == group["batch_size"]["max"] >= 1
    assert store.stats()["operations"]["save"]["count"] == 100


async def test_metering_store_stats(tmp_path: Path) -> None:
    store = asap_native.SQLiteMeteringStore(tmp_path / "m.db")
    event = UsageEvent(task_id="t", agent_id="a", consumer_id="c", timestamp=NOW)
    await store.record(event)
    store.record_sync(event)
    assert len(await store.query("a", NOW, NOW)) == 2
    await store.aggregate("a", "day")
    ops = store.stats()["operations"]
    assert ops["record"]["count"] == 2
    assert ops["query"]["count"] == 1
    assert ops["aggregate"]["count"] == 1
    memory = asap_native.InMemoryMeteringStore()
    await memory.record(event)
    assert memory.stats()["operations"]["record"]["count"] == 1
    assert memory.stats()["group_commit"]["batches"] == 0


def test_decompress_payload_counts_outcomes_and_bytes() -> None:
    import gzip

    from asap_native import compression

    before = compression.stats()
    body = gzip.compress(b"x" * 1000)
    assert compression.decompress_payload(body, "gzip") == b"x" * 1000
    with pytest.raises(OSError):
        compression.decompress_payload(b"\x1f\x8bnot gzip", "gzip")
    with pytest.raises(compression.DecompressionLimitExceededError):
        compression.decompress_payload(body, "gzip", max_size=10)
    with pytest.raises(ValueError):
        compression.decompress_payload(body, "zstd")
    after = compression.stats()
    delta = {k: after["requests"][k] - before["requests"][k] for k in after["requests"]}
    assert delta == {"passed": 1, "400": 1, "413": 1, "415": 1}
    assert after["bytes_out"] - before["bytes_out"] == 1000
    assert after["bytes_in"] - before["bytes_in"] >= 3 * len(body)


async def test_middleware_counts_outcomes_and_bytes() -> None:
    import gzip

    from asap_native import DecompressionMiddleware

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = DecompressionMiddleware(app, max_size=100)

    async def call(encoding: bytes | None, body: bytes) -> int:
        headers = [(b"content-encoding", encoding)] if encoding else []
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await middleware({"type": "http", "headers": headers}, receive, send)
        return sent[0]["status"]

    assert await call(b"gzip", gzip.compress(b"y" * 50)) == 200
    assert await call(None, b"plain") == 200
    assert await call(b"gzip", b"garbage") == 400
    assert await call(b"gzip", gzip.compress(b"y" * 500)) == 413
    assert await call(b"zstd", b"...") == 415
    figures = middleware.stats()
    assert figures["requests"] == {"passed": 2, "400": 1, "413": 1, "415": 1}
    assert figures["bytes_out"] == 50
