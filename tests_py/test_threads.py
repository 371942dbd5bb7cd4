"""The sync API from many threads, inside a running event loop, and with the GIL released."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _threads import run_threads
from conftest import (
    BASE_TIME,
    assert_same_snapshot,
    make_event,
    make_snapshot,
    open_snapshot_store,
)

from asap_native import SQLiteMeteringStore, SQLiteSnapshotStore, StoreClosedError

THREADS = 12
PER_THREAD = 40


def payload(thread: int, version: int) -> dict[str, Any]:
    return {
        "thread": thread,
        "version": version,
        "items": list(range(version % 7)),
        "text": f"t{thread}-v{version}-" + "é" * (version % 5),
        "nested": {"z": thread, "a": [version, {"k": str(version)}]},
    }


def test_many_threads_save_and_get_their_own_tasks(snapshot_store: Any) -> None:
    def work(index: int) -> None:
        task = f"task_{index}"
        for version in range(1, PER_THREAD + 1):
            snap = make_snapshot(task, version, payload(index, version))
            snapshot_store.save(snap)
            assert_same_snapshot(snapshot_store.get(task, version), snap)
            assert_same_snapshot(snapshot_store.get(task), snap)
        assert snapshot_store.list_versions(task) == list(range(1, PER_THREAD + 1))

    run_threads(THREADS, work)
    for index in range(THREADS):
        task = f"task_{index}"
        assert snapshot_store.list_versions(task) == list(range(1, PER_THREAD + 1))
        for version in range(1, PER_THREAD + 1):
            got = snapshot_store.get(task, version)
            assert got.data == payload(index, version)
            assert list(got.data) == list(payload(index, version))


def test_many_threads_share_one_task(snapshot_store: Any) -> None:
    def work(index: int) -> None:
        # Thread i owns versions i+1, i+1+THREADS, ...; reads everybody's.
        for step in range(PER_THREAD):
            version = index + 1 + step * THREADS
            snapshot_store.save(make_snapshot("shared", version, payload(index, version)))
            got = snapshot_store.get("shared", version)
            assert got.data == payload(index, version)
            latest = snapshot_store.get("shared")
            assert latest.version >= version
            assert latest.data == payload(latest.data["thread"], latest.version)

    run_threads(THREADS, work)
    assert snapshot_store.list_versions("shared") == list(range(1, THREADS * PER_THREAD + 1))


def test_readers_never_see_torn_snapshots(snapshot_store: Any) -> None:
    writes = 300
    done = threading.Event()
    snapshot_store.save(make_snapshot("hot", 1, {"n": 1, "copy": 1, "blob": "1" * 1000}))

    def writer() -> None:
        try:
            for n in range(2, writes + 1):
                # Add version n and replace version 1 in place: both must look whole. (In
                # this order: replacing version 1 first would let a reader see it as the
                # latest with n == 2, between the two saves.)
                snapshot_store.save(
                    make_snapshot("hot", n, {"n": n, "copy": n, "blob": str(n) * 1000})
                )
                snapshot_store.save(
                    make_snapshot("hot", 1, {"n": n, "copy": n, "blob": str(n) * 1000})
                )
                if n % 50 == 0:
                    snapshot_store.delete("hot", n - 25)
        finally:
            done.set()

    def reader(_: int) -> None:
        last_seen = 0
        while not done.is_set():
            one = snapshot_store.get("hot", 1)
            assert one.data["n"] == one.data["copy"]
            assert one.data["blob"] == str(one.data["n"]) * 1000
            latest = snapshot_store.get("hot")
            assert latest.data["n"] == latest.version
            assert latest.version >= last_seen  # the latest only moves forward
            last_seen = latest.version
            versions = snapshot_store.list_versions("hot")
            assert versions == sorted(versions)

    writer_thread = threading.Thread(target=writer)
    writer_thread.start()
    try:
        run_threads(4, reader)
    finally:
        done.set()
        writer_thread.join()
    assert snapshot_store.get("hot").version == writes


def test_two_store_objects_on_one_file_from_many_threads(db_path: Path) -> None:
    with SQLiteSnapshotStore(db_path) as first, SQLiteSnapshotStore(db_path) as second:

        def work(index: int) -> None:
            store = first if index % 2 else second
            other = second if index % 2 else first
            for version in range(1, 21):
                snap = make_snapshot(f"task_{index}", version, payload(index, version))
                store.save(snap)
                assert_same_snapshot(other.get(f"task_{index}", version), snap)

        run_threads(8, work)
        for index in range(8):
            assert first.list_versions(f"task_{index}") == list(range(1, 21))


def test_many_threads_record_metering(metering_store: Any) -> None:
    def work(index: int) -> None:
        for n in range(PER_THREAD):
            metering_store.record_sync(
                make_event(
                    f"agent_{index % 3}",
                    BASE_TIME + timedelta(seconds=n),
                    task_id=f"t{index}-{n}",
                    tokens_in=index,
                    tokens_out=n,
                    duration_ms=1,
                    api_calls=1,
                )
            )
            assert metering_store.query_sync(
                f"agent_{index % 3}", BASE_TIME, BASE_TIME + timedelta(hours=1)
            )

    run_threads(THREADS, work)
    for agent in range(3):
        indexes = [i for i in range(THREADS) if i % 3 == agent]
        total = metering_store.aggregate_sync(f"agent_{agent}", "day")
        assert total.total_tasks == len(indexes) * PER_THREAD
        assert total.total_tokens == sum(i + n for i in indexes for n in range(PER_THREAD))
        events = metering_store.query_sync(
            f"agent_{agent}", BASE_TIME, BASE_TIME + timedelta(hours=1)
        )
        assert len(events) == len(indexes) * PER_THREAD
        assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
        assert len({e.task_id for e in events}) == len(events)


def test_memory_database_is_one_database_for_every_thread() -> None:
    # ":memory:" must not give each reader connection its own empty database.
    with SQLiteSnapshotStore(":memory:") as store, SQLiteMeteringStore(":memory:") as meter:
        store.save(make_snapshot("task_a", 1))
        meter.record_sync(make_event("a", BASE_TIME))
        with ThreadPoolExecutor(max_workers=8) as pool:
            gets = list(pool.map(lambda _: store.get("task_a"), range(64)))
            queries = list(
                pool.map(lambda _: meter.query_sync("a", BASE_TIME, BASE_TIME), range(64))
            )
        assert all(g is not None and g.version == 1 for g in gets)
        assert all(len(q) == 1 for q in queries)


@pytest.mark.parametrize("kind", ["sqlite-file", "sqlite-memory"])
def test_close_while_other_threads_work(kind: str, db_path: Path) -> None:
    store = open_snapshot_store(kind, db_path)
    started = threading.Barrier(5)
    outcomes: list[str] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        started.wait()
        version = 1
        while True:
            try:
                store.save(make_snapshot(f"task_{index}", version))
                store.get(f"task_{index}")
            except StoreClosedError:
                with lock:
                    outcomes.append("closed")
                return
            version += 1
            if version > 100_000:
                with lock:
                    outcomes.append("never closed")
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    store.save(make_snapshot("main", 1))
    store.close()
    for thread in threads:
        thread.join()
    assert outcomes == ["closed"] * 4
    assert store.closed


# --- the sync API inside a running event loop ------------------------------------------------


async def test_sync_api_inside_running_loop(snapshot_store: Any) -> None:
    asyncio.get_running_loop()  # we are inside the loop
    for version in range(1, 21):
        snap = make_snapshot("in_loop", version, payload(0, version))
        snapshot_store.save(snap)
        assert_same_snapshot(snapshot_store.get("in_loop"), snap)
    assert snapshot_store.list_versions("in_loop") == list(range(1, 21))
    assert snapshot_store.delete("in_loop", 20) is True
    assert snapshot_store.get("in_loop").version == 19
    assert snapshot_store.delete("in_loop") is True


async def test_sync_api_from_many_tasks_and_threads_in_a_loop(db_path: Path) -> None:
    with SQLiteSnapshotStore(db_path) as store, SQLiteMeteringStore(db_path) as meter:

        async def in_task(index: int) -> None:
            for version in range(1, 11):
                snap = make_snapshot(f"task_{index}", version, payload(index, version))
                store.save(snap)
                await asyncio.sleep(0)
                assert_same_snapshot(store.get(f"task_{index}"), snap)
                meter.record_sync(make_event("loop", BASE_TIME, task_id=f"{index}-{version}"))

        def in_thread(index: int) -> None:
            for version in range(1, 11):
                snap = make_snapshot(f"thread_{index}", version, payload(index, version))
                store.save(snap)
                assert_same_snapshot(store.get(f"thread_{index}", version), snap)

        await asyncio.gather(
            *(in_task(i) for i in range(8)),
            *(asyncio.to_thread(in_thread, i) for i in range(4)),
        )
        assert (await meter.aggregate("loop", "day")).total_tasks == 80
        for i in range(4):
            assert store.list_versions(f"thread_{i}") == list(range(1, 11))


def test_calls_do_not_create_threads(db_path: Path) -> None:
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        pytest.skip("needs /proc")
    with SQLiteSnapshotStore(db_path) as store, SQLiteMeteringStore(db_path) as meter:
        store.save(make_snapshot("warm", 1))  # lazily opened resources settle first
        store.get("warm")
        meter.record_sync(make_event("a"))
        meter.query_sync("a", BASE_TIME, BASE_TIME)
        before = len(os.listdir(tasks))
        for version in range(1, 101):
            store.save(make_snapshot("task_a", version))
            store.get("task_a")
            store.list_versions("task_a")
            meter.record_sync(make_event("a"))
            meter.query_sync("a", BASE_TIME, BASE_TIME)
        after = len(os.listdir(tasks))
    assert after <= before


# --- the GIL is released during SQLite calls --------------------------------------------------


@pytest.mark.parametrize("operation", ["snapshot-save", "snapshot-delete", "metering-record"])
@pytest.mark.same_sqlite_in_process
def test_gil_is_released_while_waiting_for_the_database(db_path: Path, operation: str) -> None:
    """A save stuck on another connection's lock must not stop other Python threads.

    Python's sqlite3 holds the write lock; our store's write waits in SQLite's busy handler.
    If that wait held the GIL, the counting thread below could not run until the write gave
    up (after `timeout`), and the write would no longer be pending when the count is done.
    """
    snapshots = SQLiteSnapshotStore(db_path, timeout=60)
    meter = SQLiteMeteringStore(db_path, timeout=60)
    snapshots.save(make_snapshot("task_a", 1))
    import sqlite3

    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    entered = threading.Event()
    finished = threading.Event()
    failure: list[BaseException] = []

    def blocked_write() -> None:
        entered.set()
        try:
            if operation == "snapshot-save":
                snapshots.save(make_snapshot("task_a", 2, {"after": "lock"}))
            elif operation == "snapshot-delete":
                snapshots.delete("task_a", 1)
            else:
                meter.record_sync(make_event("gil_agent", BASE_TIME))
        except BaseException as error:
            failure.append(error)
        finally:
            finished.set()

    writer = threading.Thread(target=blocked_write)
    writer.start()
    try:
        assert entered.wait(10)
        # Let the writer reach SQLite (sleep releases the GIL), then do pure-Python work.
        finished.wait(0.3)
        assert not finished.is_set(), f"write held the GIL or did not wait for the lock: {failure}"
        progress = 0
        for _ in range(200_000):
            progress += 1
        # The loop ran to completion while the write was still waiting on the lock.
        assert progress == 200_000
        assert writer.is_alive() and not finished.is_set()
        # Reads proceed too (WAL readers do not wait for the writer), also GIL-free.
        assert snapshots.get("task_a", 1) is not None
    finally:
        holder.execute("COMMIT")
        holder.close()
        writer.join(60)
    assert not failure, failure
    if operation == "snapshot-save":
        assert snapshots.get("task_a").data == {"after": "lock"}
    elif operation == "snapshot-delete":
        assert snapshots.list_versions("task_a") == []
    else:
        assert meter.aggregate_sync("gil_agent", "day").total_tasks == 1
    snapshots.close()
    meter.close()


@pytest.mark.same_sqlite_in_process
def test_threads_run_in_parallel_with_blocked_reads_and_writes(db_path: Path) -> None:
    """Several threads blocked in the store at once do not serialize other Python threads."""
    store = SQLiteSnapshotStore(db_path, timeout=60)
    store.save(make_snapshot("task_a", 1))
    import sqlite3

    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    waiting = [
        threading.Thread(target=store.save, args=(make_snapshot(f"w{i}", 1),)) for i in range(3)
    ]
    for thread in waiting:
        thread.start()
    try:
        ticks = 0
        ticker_done = threading.Event()

        def ticker() -> None:
            nonlocal ticks
            for _ in range(50_000):
                ticks += 1
            ticker_done.set()

        t = threading.Thread(target=ticker)
        t.start()
        assert ticker_done.wait(30)
        t.join()
        assert ticks == 50_000
        assert all(thread.is_alive() for thread in waiting)
    finally:
        holder.execute("COMMIT")
        holder.close()
        for thread in waiting:
            thread.join(60)
    assert all(store.list_versions(f"w{i}") == [1] for i in range(3))
    store.close()
