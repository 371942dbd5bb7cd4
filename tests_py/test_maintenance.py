"""Retention, backup and check on the SQLite stores (asap_native.maintenance): sync and
awaitable forms, named as each class names its calls, with writes going on meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import make_event, make_snapshot

import asap_native
from asap_native.maintenance import CheckReport

UTC = timezone.utc
T0 = datetime(2024, 5, 17, tzinfo=UTC)


def fill_snapshots(store: Any, tasks: int = 5, versions: int = 8) -> None:
    for task in range(tasks):
        for version in range(1, versions + 1):
            store.save(make_snapshot(f"task_{task}", version))


def count(path: Path, sql: str) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute(sql).fetchone()[0])


# ---------------------------------------------------------------- snapshots


def test_prune_keeps_the_highest_versions(tmp_path: Path) -> None:
    store = asap_native.SQLiteSnapshotStore(tmp_path / "s.db")
    fill_snapshots(store)
    seen: list[int] = []
    assert store.prune("task_0", keep_last=3, progress=seen.append) == 5
    assert seen and seen[-1] == 5
    assert store.list_versions("task_0") == [6, 7, 8]
    assert store.list_versions("task_1") == list(range(1, 9))
    assert store.prune(keep_last=2, chunk_size=3) == 1 + 4 * 6
    for task in range(5):
        assert store.list_versions(f"task_{task}") == [7, 8]
    assert store.prune(keep_last=2) == 0
    assert store.stats()["operations"]["prune"]["count"] > 0
    store.close()


async def test_prune_async_forms(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    sync_store = asap_native.SQLiteSnapshotStore(path)
    fill_snapshots(sync_store)
    assert await sync_store.prune_async("task_4", keep_last=1) == 7
    async_store = asap_native.SQLiteAsyncSnapshotStore(path)
    # Each chunk is one of the store's queued writes: saves submitted meanwhile commit too.
    pruned, *_ = await asyncio.gather(
        async_store.prune(keep_last=4, chunk_size=2),
        *(async_store.save(make_snapshot("task_9", v)) for v in range(1, 30)),
    )
    assert pruned >= 4 * 4
    assert await async_store.list_versions("task_0") == [5, 6, 7, 8]
    assert await async_store.list_versions("task_4") == [8]
    assert len(await async_store.list_versions("task_9")) >= 4
    assert async_store.prune_sync(keep_last=1) > 0
    assert await async_store.list_versions("task_9") == [29]
    sync_store.close()
    async_store.close()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"keep_last": 0}, ValueError),
        ({"keep_last": -1}, ValueError),
        ({"keep_last": "3"}, TypeError),
        ({"keep_last": True}, TypeError),
        ({"keep_last": 1, "chunk_size": 0}, ValueError),
        ({"keep_last": 1, "chunk_size": 2.5}, TypeError),
    ],
)
def test_prune_arguments(tmp_path: Path, kwargs: dict[str, Any], error: type) -> None:
    with asap_native.SQLiteSnapshotStore(tmp_path / "s.db") as store:
        store.save(make_snapshot("t", 1))
        with pytest.raises(error):
            store.prune(**kwargs)
        assert store.list_versions("t") == [1]


# ---------------------------------------------------------------- usage events


async def test_prune_before_deletes_by_instant(tmp_path: Path) -> None:
    store = asap_native.SQLiteMeteringStore(tmp_path / "m.db")
    plus2 = timezone(timedelta(hours=2))
    minus9 = timezone(timedelta(hours=-9))
    events = []
    for i in range(200):
        moment = T0 + timedelta(minutes=15 * i)
        moment = moment.astimezone([UTC, plus2, minus9][i % 3])
        events.append(make_event(f"agent_{i % 4}", moment, task_id=f"t{i}"))
    for event in events:
        await store.record(event)
    cutoff = T0 + timedelta(hours=24, minutes=7)
    before = sum(1 for e in events if e.timestamp < cutoff)
    # A naive datetime is UTC, as in query().
    assert await store.prune_before(cutoff.replace(tzinfo=None), chunk_size=9) == before
    left = []
    for agent in range(4):
        left += await store.query(f"agent_{agent}", T0, T0 + timedelta(days=9))
    assert sorted(e.task_id for e in left) == sorted(
        e.task_id for e in events if e.timestamp >= cutoff
    )
    assert store.prune_before_sync(T0 + timedelta(days=30)) == 200 - before
    with pytest.raises(TypeError):
        store.prune_before_sync(12345)  # type: ignore[arg-type]
    store.close()


async def test_prune_before_while_recording(tmp_path: Path) -> None:
    store = asap_native.SQLiteMeteringStore(tmp_path / "m.db")
    for i in range(500):
        store.record_sync(make_event("agent", T0 + timedelta(seconds=i)))
    new = [make_event("agent", T0 + timedelta(days=1, seconds=i)) for i in range(300)]
    pruned, *_ = await asyncio.gather(
        store.prune_before(T0 + timedelta(hours=1), chunk_size=25),
        *(store.record(event) for event in new),
    )
    assert pruned == 500
    assert (await store.aggregate("agent", "day")).total_tasks == 300
    store.close()


# ---------------------------------------------------------------- backup and check


def test_backup_and_check(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = asap_native.SQLiteSnapshotStore(path)
    fill_snapshots(store, tasks=20, versions=20)
    steps: list[tuple[int, int]] = []
    store.backup(tmp_path / "copy.db", progress=lambda done, total: steps.append((done, total)))
    assert steps and steps[-1][0] == steps[-1][1] > 0
    assert count(tmp_path / "copy.db", "SELECT count(*) FROM snapshots") == 400
    with pytest.raises(FileExistsError):
        store.backup(tmp_path / "copy.db")

    def stop(done: int, total: int) -> None:
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        store.backup(tmp_path / "stopped.db", progress=stop)
    assert not (tmp_path / "stopped.db").exists()
    report = store.check()
    assert isinstance(report, CheckReport) and report.ok
    assert report.as_dict() == {
        "ok": True,
        "quick": False,
        "integrity_errors": [],
        "schema_problems": [],
        "schema_notes": ["no usage_events table yet (the store that uses it creates it)"],
    }
    assert store.check(quick=True).quick
    figures = store.stats()["operations"]
    assert figures["backup"]["count"] == 3 and figures["check"]["count"] == 2
    store.close()
    with pytest.raises(asap_native.StoreClosedError):
        store.check()


async def test_backup_and_check_awaitable(tmp_path: Path) -> None:
    metering = asap_native.SQLiteMeteringStore(tmp_path / "m.db")
    snapshots = asap_native.SQLiteAsyncSnapshotStore(tmp_path / "m.db")
    await metering.record(make_event())
    await snapshots.save(make_snapshot())
    await metering.backup(tmp_path / "a.db")
    await snapshots.backup(tmp_path / "b.db")
    metering.backup_sync(tmp_path / "c.db")
    snapshots.backup_sync(tmp_path / "d.db")
    sync_store = asap_native.SQLiteSnapshotStore(tmp_path / "m.db")
    await sync_store.backup_async(tmp_path / "e.db")
    for name in "abcde":
        assert count(tmp_path / f"{name}.db", "SELECT count(*) FROM usage_events") == 1
        assert count(tmp_path / f"{name}.db", "SELECT count(*) FROM snapshots") == 1
    assert (await metering.check()).ok and (await snapshots.check()).ok
    assert metering.check_sync().ok and snapshots.check_sync(quick=True).ok
    assert (await sync_store.check_async()).ok
    for store in (metering, snapshots, sync_store):
        store.close()


async def test_memory_database_backup(tmp_path: Path) -> None:
    store = asap_native.SQLiteMeteringStore(":memory:")
    await store.record(make_event())
    await store.backup(tmp_path / "memory.db")
    assert count(tmp_path / "memory.db", "SELECT count(*) FROM usage_events") == 1
    store.close()
