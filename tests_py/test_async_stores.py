"""The awaitable store API under load: protocols and factory, the sync API inside a running
loop, 64 concurrent tasks, mixed sync/async use from threads and loops, group commit with
a failing write, visibility after an awaited save, batching of completions, and event-loop
lag while the stores are busy."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import sqlite3
import threading
import time
import weakref
from contextlib import closing
from pathlib import Path
from typing import Any

import asap.state.snapshot as asap_snapshot
import pytest
from _async_helpers import (
    LagMonitor,
    WriteLock,
    count_rows,
    read_line,
    spawn_python,
    wait_until,
)
from _threads import run_threads
from asap.models.entities import StateSnapshot as AsapStateSnapshot
from asap.state.metering import AsyncMeteringStore
from asap.state.snapshot import AsyncSnapshotStore
from conftest import (
    BASE_TIME,
    assert_same_event,
    assert_same_snapshot,
    assert_satisfies_protocol,
    make_event,
    make_raw_snapshot,
    make_snapshot,
)

import asap_native
from asap_native import (
    AsyncInMemorySnapshotStore,
    InMemoryMeteringStore,
    SQLiteAsyncSnapshotStore,
    SQLiteMeteringStore,
    SQLiteSnapshotStore,
    StoreError,
    loop_bridge,
)
from asap_native.loop_bridge import bridge_for_running_loop

SNAPSHOT_METHODS = ("save", "get", "list_versions", "delete")
METERING_METHODS = ("record", "query", "aggregate")


def _settled_stats(store: Any) -> dict[str, int]:
    """Group-commit figures once everything has finished: closes the store first, because a
    batch is counted just after its completions are handed over, so an await can return
    before its batch shows in the figures."""
    store.close()
    return dict(store.stats()["group_commit"])


def _report(record_property: Any, name: str, value: Any) -> None:
    """Shows a figure in the JUnit XML (record_property) and on the terminal (with -s)."""
    record_property(name, value)
    print(f"\n[{name}] {value}")


# --- protocols, signatures and the factory ------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite-file", "sqlite-memory", "memory"])
def test_async_snapshot_stores_satisfy_asaps_protocol(kind: str, db_path: Path) -> None:
    store: Any
    if kind == "memory":
        store = AsyncInMemorySnapshotStore()
    else:
        store = SQLiteAsyncSnapshotStore(db_path if kind == "sqlite-file" else ":memory:")
    with store:
        assert isinstance(store, AsyncSnapshotStore)
        assert_satisfies_protocol(store, AsyncSnapshotStore)
        for name in SNAPSHOT_METHODS:
            assert inspect.iscoroutinefunction(getattr(store, name)), name
            assert inspect.iscoroutinefunction(getattr(type(store), name)), name


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_metering_stores_satisfy_asaps_async_protocol(kind: str, db_path: Path) -> None:
    store: Any = SQLiteMeteringStore(db_path) if kind == "sqlite" else InMemoryMeteringStore()
    with store:
        assert isinstance(store, AsyncMeteringStore)
        assert_satisfies_protocol(store, AsyncMeteringStore)
        for name in METERING_METHODS:
            assert inspect.iscoroutinefunction(getattr(store, name)), name


def test_sync_store_async_methods_are_coroutine_functions(db_path: Path) -> None:
    with SQLiteSnapshotStore(db_path) as store:
        for name in SNAPSHOT_METHODS:
            method = getattr(store, f"{name}_async")
            assert inspect.iscoroutinefunction(method), name
            expected = inspect.signature(getattr(AsyncSnapshotStore, name))
            got = inspect.signature(method)
            assert list(got.parameters) == [p for p in expected.parameters if p != "self"], name
            for param in got.parameters.values():
                assert param.default == expected.parameters[param.name].default, (name, param)
            # The sync method stays sync.
            assert not inspect.iscoroutinefunction(getattr(store, name)), name


def _outcome(build: Any) -> tuple[str, Any]:
    """What a factory call gives: the store's class name and path, or the error."""
    try:
        store = build()
    except Exception as error:
        return "error", (type(error), str(error))
    outcome = type(store).__name__, getattr(store, "_db_path", None)
    if type(store).__module__.startswith("asap_native"):
        store.close()
    return outcome


@pytest.mark.parametrize(
    "backend", ["sqlite", "memory", " SQLite ", "MEMORY\n", "bogus", "", "sqlite3", None, 1]
)
@pytest.mark.parametrize("db_path_arg", [None, "explicit.db", Path("sub_dir_free.db")])
@pytest.mark.parametrize("env_path", [None, "  from_env.db  "])
def test_create_async_snapshot_store_matches_asap(
    backend: Any,
    db_path_arg: Any,
    env_path: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    if env_path is None:
        monkeypatch.delenv("ASAP_STORAGE_PATH", raising=False)
    else:
        monkeypatch.setenv("ASAP_STORAGE_PATH", env_path)
    ours = _outcome(lambda: asap_native.create_async_snapshot_store(backend, db_path=db_path_arg))
    theirs = _outcome(
        lambda: asap_snapshot.create_async_snapshot_store(backend, db_path=db_path_arg)
    )
    assert ours == theirs


def test_create_async_snapshot_store_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASAP_STORAGE_PATH", raising=False)
    ours_sig = inspect.signature(asap_native.create_async_snapshot_store)
    theirs_sig = inspect.signature(asap_snapshot.create_async_snapshot_store)
    assert list(ours_sig.parameters) == list(theirs_sig.parameters)
    for name, param in ours_sig.parameters.items():
        assert param.default == theirs_sig.parameters[name].default, name
        assert param.kind == theirs_sig.parameters[name].kind, name
    with asap_native.create_async_snapshot_store() as store:
        assert isinstance(store, SQLiteAsyncSnapshotStore)
        assert store.db_path == Path("asap_state.db")
    assert (tmp_path / "asap_state.db").exists()


# --- the awaitable API does what the sync one does -----------------------------------------


def _open_async(kind: str, path: Path) -> Any:
    if kind == "sqlite-async":
        return SQLiteAsyncSnapshotStore(path)
    if kind == "sqlite-async-memory":
        return SQLiteAsyncSnapshotStore(":memory:")
    return AsyncInMemorySnapshotStore()


@pytest.mark.parametrize("kind", ["sqlite-async", "sqlite-async-memory", "memory"])
async def test_async_crud_round_trip(kind: str, db_path: Path) -> None:
    async with _open_async(kind, db_path) as store:
        snaps = {
            v: make_snapshot("crud", v, {"v": v, "nested": {"x": [v, str(v)]}}) for v in (3, 1, 2)
        }
        for snap in snaps.values():
            assert await store.save(snap) is None
        got = await store.get("crud")
        assert type(got) is AsapStateSnapshot
        assert_same_snapshot(got, snaps[3])
        for version, snap in snaps.items():
            assert_same_snapshot(await store.get("crud", version), snap)
        assert await store.get("crud", 9) is None
        assert await store.get("nobody") is None
        assert await store.list_versions("crud") == [1, 2, 3]
        assert await store.list_versions("nobody") == []
        assert await store.delete("crud", 2) is True
        assert await store.delete("crud", 2) is False
        assert await store.list_versions("crud") == [1, 3]
        assert await store.delete("crud") is True
        assert await store.delete("crud") is False
        assert await store.get("crud") is None


async def test_sync_store_async_methods_round_trip(db_path: Path) -> None:
    with SQLiteSnapshotStore(db_path) as store:
        snap = make_snapshot("both", 1, {"a": 1})
        await store.save_async(snap)
        assert_same_snapshot(await store.get_async("both"), snap)
        assert_same_snapshot(await store.get_async("both", 1), snap)
        assert await store.list_versions_async("both") == [1]
        assert await store.delete_async("both", 1) is True
        assert await store.delete_async("both") is False


@pytest.mark.parametrize("kind", ["sqlite-async", "memory"])
async def test_keys_nothing_matches_and_bad_values(kind: str, db_path: Path) -> None:
    async with _open_async(kind, db_path) as store:
        # As asap-protocol's stores: keys no snapshot has find nothing.
        assert await store.get("") is None
        assert await store.get("t", 0) is None
        assert await store.get(123) is None  # type: ignore[arg-type]
        assert await store.delete("t", -1) is False
        with pytest.raises(TypeError):
            await store.save(make_raw_snapshot({"bad": object()}))
        # Nothing half-done: the store still works.
        snap = make_snapshot("after_errors", 1)
        await store.save(snap)
        assert_same_snapshot(await store.get("after_errors"), snap)


async def test_metering_async_round_trip_and_concurrent_records(db_path: Path) -> None:
    async with SQLiteMeteringStore(db_path) as store:
        events = [
            make_event("agent_a", BASE_TIME.replace(minute=i % 60), tokens_in=i, api_calls=1)
            for i in range(200)
        ]
        await asyncio.gather(*(store.record(event) for event in events))
        got = await store.query("agent_a", BASE_TIME, BASE_TIME.replace(minute=59))
        assert len(got) == 200
        ordered = sorted(events, key=lambda e: e.timestamp)
        assert [e.timestamp for e in got] == [e.timestamp for e in ordered]
        by_tokens = sorted(got, key=lambda e: e.metrics.tokens_in)
        for got_event, expected in zip(by_tokens, events, strict=False):
            assert_same_event(got_event, expected)
        page = await store.query(
            "agent_a", BASE_TIME, BASE_TIME.replace(minute=59), limit=5, offset=10
        )
        assert len(page) == 5
        total = await store.aggregate("agent_a", "day")
        assert total.total_tokens == sum(e.metrics.tokens_in + e.metrics.tokens_out for e in events)
        assert total.total_api_calls == 200
        assert total.period == "day"
        # The sync methods see what the awaited records committed.
        assert store.aggregate_sync("agent_a", "day").total_tokens == total.total_tokens
    assert (
        store.stats()["group_commit"]["writes"] == 200
    )  # closed by async with: every batch is counted


# --- the sync API inside a running loop (the seed review's untested path) -------------------


async def test_sync_api_inside_a_running_loop_needs_no_thread_or_loop(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteSnapshotStore(db_path)
    metering = SQLiteMeteringStore(db_path)
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a sync store call started a thread or an event loop")

    # asap-protocol's _run_sync starts a thread and a loop here; this store must not.
    monkeypatch.setattr(threading.Thread, "start", forbidden)
    monkeypatch.setattr(asyncio, "run", forbidden)
    monkeypatch.setattr(asyncio, "new_event_loop", forbidden)
    try:
        for i in range(50):
            snap = make_snapshot("in_loop", i + 1, {"i": i})
            store.save(snap)
            assert_same_snapshot(store.get("in_loop"), snap)
            assert_same_snapshot(store.get("in_loop", i + 1), snap)
        assert store.list_versions("in_loop") == list(range(1, 51))
        assert store.delete("in_loop", 50) is True
        metering.record_sync(make_event("agent_in_loop"))
        assert metering.aggregate_sync("agent_in_loop", "all").total_api_calls == 1
    finally:
        monkeypatch.undo()
    assert asyncio.get_running_loop() is loop
    assert threading.get_ident() == loop_thread

    # The sync and awaitable halves of one store see each other's writes at once.
    first = make_snapshot("halves", 1, {"by": "sync"})
    store.save(first)
    assert_same_snapshot(await store.get_async("halves"), first)
    second = make_snapshot("halves", 2, {"by": "async"})
    await store.save_async(second)
    assert_same_snapshot(store.get("halves"), second)
    await metering.record(make_event("agent_in_loop"))
    assert metering.aggregate_sync("agent_in_loop", "all").total_api_calls == 2
    store.close()
    metering.close()


async def test_sync_api_from_a_handler_coroutine_many_times(db_path: Path) -> None:
    """What the seed review ran against asap's bridge: 50 sync calls from async handlers."""
    store = SQLiteSnapshotStore(db_path)

    async def handler(i: int) -> None:
        snap = make_snapshot(f"handler_{i % 5}", i + 1, {"i": i})
        store.save(snap)
        await asyncio.sleep(0)
        assert_same_snapshot(store.get(snap.task_id, snap.version), snap)

    await asyncio.gather(*(handler(i) for i in range(50)))
    assert count_rows(db_path) == 50
    store.close()


# --- 64 concurrent tasks -------------------------------------------------------------------


async def test_64_tasks_do_1000_saves_and_1000_gets_every_value_checked(
    db_path: Path, record_property: Any
) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    tasks, saves = 64, 1000
    snaps = [
        make_snapshot(
            f"load_{i % 100}",
            i // 100 + 1,
            {"i": i, "text": "é€😀" * (i % 7), "items": list(range(i % 13)), "ok": i % 2 == 0},
            checkpoint=i % 3 == 0,
        )
        for i in range(saves)
    ]
    gets = 0

    async def worker(t: int) -> None:
        nonlocal gets
        for i in range(t, saves, tasks):
            snap = snaps[i]
            await store.save(snap)
            got = await store.get(snap.task_id, snap.version)
            gets += 1
            assert_same_snapshot(got, snap)

    await asyncio.gather(*(worker(t) for t in range(tasks)))
    assert gets == saves
    # Everything is committed, every version listed, the latest is the highest.
    assert count_rows(db_path) == saves
    for task in range(100):
        assert await store.list_versions(f"load_{task}") == list(range(1, 11))
        assert_same_snapshot(await store.get(f"load_{task}"), snaps[900 + task])
    assert bridge_for_running_loop().pending == 0
    stats = _settled_stats(store)
    _report(record_property, "executor_stats_64_tasks", stats)
    _report(record_property, "bridge_stats_64_tasks", bridge_for_running_loop().stats())
    assert stats["writes"] == saves
    operations = store.stats()["operations"]
    assert operations["get"]["count"] + operations["list_versions"]["count"] == saves + 2 * 100
    assert stats["batches"] <= saves


async def test_event_loop_lag_under_load(db_path: Path, record_property: Any) -> None:
    """64 tasks save, get, list and record while a 1 ms ticker measures the loop's lateness."""
    store = SQLiteSnapshotStore(db_path)
    metering = SQLiteMeteringStore(db_path)
    started = time.perf_counter()

    async def worker(t: int) -> None:
        for n in range(30):
            snap = make_snapshot(f"lag_{t}", n + 1, {"t": t, "n": n, "pad": "x" * 200})
            await store.save_async(snap)
            assert_same_snapshot(await store.get_async(snap.task_id), snap)
            assert (await store.list_versions_async(snap.task_id))[-1] == n + 1
            await metering.record(make_event(f"lag_agent_{t % 4}"))

    async with LagMonitor() as lag:
        await asyncio.gather(*(worker(t) for t in range(64)))
    elapsed = time.perf_counter() - started
    figures = lag.figures()
    ops = 64 * 30 * 4
    _report(record_property, "event_loop_lag_ms", figures)
    _report(record_property, "load_ops_per_s", round(ops / elapsed))
    assert figures["samples"] > 0
    assert figures["max_ms"] < 2000, figures  # sanity bound only; speed belongs to bench/
    store.close()
    metering.close()


# --- batching of completions and group commit ------------------------------------------------


async def test_completions_of_one_batch_wake_the_loop_once(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    bridge = bridge_for_running_loop()
    await store.save(make_snapshot("warm", 1))
    await wait_until(
        lambda: store.stats()["group_commit"]["writes"] == 1
    )  # the warm-up batch is counted
    before = bridge.stats()
    writes_before = 1
    tasks = [asyncio.create_task(store.save(make_snapshot("batched", i + 1))) for i in range(50)]
    await asyncio.sleep(0)  # every task has submitted its write
    # Block the loop (on purpose) until every write has completed: all 50 results are then
    # waiting in the queue, so the loop must take them in one wake-up and one drain.
    deadline = time.monotonic() + 60
    while store.stats()["group_commit"]["writes"] < writes_before + 50:
        assert time.monotonic() < deadline, store.stats()
        time.sleep(0.001)
    await asyncio.gather(*tasks)
    after = bridge.stats()
    assert after["pushed"] - before["pushed"] == 50
    assert after["wakeups"] - before["wakeups"] == 1
    # The loop takes them in passes of at most _DRAIN_BATCH, so timers run in between.
    assert after["drains"] - before["drains"] == -(-50 // loop_bridge._DRAIN_BATCH)
    store.close()


@pytest.mark.same_sqlite_in_process
async def test_writes_queued_behind_a_busy_writer_commit_together(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    await store.save(make_snapshot("warm", 1))
    with WriteLock(db_path):
        tasks = [asyncio.create_task(store.save(make_snapshot(f"group_{i}", 1))) for i in range(50)]
        await asyncio.sleep(0)  # all 50 submitted while the writer cannot commit
        assert count_rows(db_path, "task_id LIKE 'group_%'") == 0
    await asyncio.gather(*tasks)
    assert count_rows(db_path, "task_id LIKE 'group_%'") == 50
    # At most two transactions took the 50: the one stuck on the lock, and the rest.
    assert _settled_stats(store)["largest_batch"] >= 25


@pytest.mark.same_sqlite_in_process
async def test_a_failing_write_in_a_group_commit_fails_only_its_caller(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    await store.save(make_snapshot("warm", 1))
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON snapshots WHEN NEW.task_id = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'poisoned snapshot'); END"
        )
        conn.commit()
    snaps = [make_snapshot(f"member_{i}", 1, {"i": i}) for i in range(50)]
    snaps[25] = make_snapshot("poison", 1, {"i": 25})
    with WriteLock(db_path):
        tasks = [asyncio.create_task(store.save(snap)) for snap in snaps]
        await asyncio.sleep(0)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for i, result in enumerate(results):
        if i == 25:
            assert isinstance(result, StoreError), result
            assert isinstance(result, sqlite3.DatabaseError)
            assert "poisoned snapshot" in str(result)
        else:
            assert result is None, (i, result)
    assert count_rows(db_path, "task_id LIKE 'member_%'") == 49
    assert count_rows(db_path, "task_id = 'poison'") == 0
    for i, snap in enumerate(snaps):
        if i != 25:
            assert_same_snapshot(await store.get(snap.task_id), snap)
    assert await store.get("poison") is None
    # Same batch: the failing write shared a transaction with at least 24 others.
    assert _settled_stats(store)["largest_batch"] >= 25


async def test_a_write_that_cannot_be_encoded_fails_at_submit_not_in_the_batch(
    db_path: Path,
) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    good = [make_snapshot(f"ok_{i}", 1) for i in range(20)]
    bad = make_raw_snapshot({"when": object()}, task_id="bad")
    results = await asyncio.gather(
        *(store.save(s) for s in good[:10]),
        store.save(bad),
        *(store.save(s) for s in good[10:]),
        return_exceptions=True,
    )
    assert isinstance(results[10], TypeError), results[10]
    assert "when" in str(results[10])  # names the offending path
    assert all(r is None for i, r in enumerate(results) if i != 10)
    assert count_rows(db_path, "task_id LIKE 'ok_%'") == 20
    assert count_rows(db_path, "task_id = 'bad'") == 0
    store.close()


# --- visibility after an awaited save ----------------------------------------------------------

_READER_PROCESS = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
for line in sys.stdin:
    row = conn.execute(
        "SELECT max(version), count(*) FROM snapshots WHERE task_id = ?", (line.strip(),)
    ).fetchone()
    print(row[0], row[1], flush=True)
"""


async def test_after_await_save_every_api_thread_and_process_sees_it(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    sync_store = SQLiteSnapshotStore(db_path)  # other connections, same process
    await store.save(make_snapshot("visible", 1))  # creates nothing new: the table exists
    reader = spawn_python(_READER_PROCESS, str(db_path))
    try:
        for version in range(2, 42):
            snap = make_snapshot("visible", version, {"v": version})
            await store.save(snap)
            # The sync API of another store object.
            assert_same_snapshot(sync_store.get("visible"), snap)
            # Another thread.
            seen: list[Any] = []
            thread = threading.Thread(
                target=lambda seen=seen: seen.append(sync_store.get("visible"))
            )
            thread.start()
            thread.join()
            assert_same_snapshot(seen[0], snap)
            # The same store, awaited.
            assert_same_snapshot(await store.get("visible"), snap)
            # Another process, through the stdlib driver.
            assert reader.stdin is not None and reader.stdout is not None
            reader.stdin.write("visible\n")
            reader.stdin.flush()
            assert read_line(reader.stdout).split() == [str(version), str(version)]
    finally:
        reader.communicate(timeout=30)  # closes its stdin, so it ends; then its pipes
    store.close()
    sync_store.close()


async def test_a_get_right_after_an_unawaited_save_of_the_same_task_sees_it(db_path: Path) -> None:
    """A read submitted while a write of its task is queued runs after that write."""
    store = SQLiteAsyncSnapshotStore(db_path)
    with WriteLock(db_path):
        snap = make_snapshot("ordered", 1, {"x": 1})
        save = asyncio.create_task(store.save(snap))
        get = asyncio.create_task(store.get("ordered"))
        versions = asyncio.create_task(store.list_versions("ordered"))
        await asyncio.sleep(0)
    await save
    assert_same_snapshot(await get, snap)
    assert await versions == [1]
    delete = asyncio.create_task(store.delete("ordered"))
    after = asyncio.create_task(store.get("ordered"))
    assert await delete is True
    assert await after is None
    store.close()


# --- mixed sync and async use from threads and loops at once ----------------------------------


async def test_mixed_sync_and_async_from_threads_and_the_loop(db_path: Path) -> None:
    store = SQLiteSnapshotStore(db_path)  # sync API and *_async on one object
    async_store = SQLiteAsyncSnapshotStore(db_path)  # a second store on the same file
    rounds = 40
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def sync_worker(n: int) -> None:
        try:
            barrier.wait()
            for v in range(1, rounds + 1):
                snap = make_snapshot(f"sync_{n}", v, {"n": n, "v": v})
                store.save(snap)
                assert_same_snapshot(store.get(snap.task_id), snap)
        except BaseException as error:
            errors.append(error)

    async def async_worker(prefix: str, save: Any, get: Any) -> None:
        for v in range(1, rounds + 1):
            snap = make_snapshot(prefix, v, {"prefix": prefix, "v": v})
            await save(snap)
            assert_same_snapshot(await get(snap.task_id), snap)

    def loop_thread(n: int) -> None:
        async def main() -> None:
            await asyncio.gather(
                async_worker(f"thread_loop_{n}_a", store.save_async, store.get_async),
                async_worker(f"thread_loop_{n}_b", async_store.save, async_store.get),
            )

        try:
            barrier.wait()
            asyncio.run(main())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=sync_worker, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=loop_thread, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
    await asyncio.gather(
        *(async_worker(f"main_{n}", store.save_async, store.get_async) for n in range(3)),
        *(async_worker(f"main_async_{n}", async_store.save, async_store.get) for n in range(3)),
    )
    await wait_until(lambda: not any(t.is_alive() for t in threads))
    assert errors == []
    writers = 3 + 2 * 2 + 3 + 3
    assert count_rows(db_path) == writers * rounds
    for task_id in ("sync_0", "thread_loop_1_b", "main_2", "main_async_0"):
        assert store.list_versions(task_id) == list(range(1, rounds + 1))
    store.close()
    async_store.close()


# --- several loops: in sequence (one per test here), in threads, uvloop ------------------------

_SHARED: dict[str, Any] = {}


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = SQLiteAsyncSnapshotStore(tmp_path_factory.mktemp("shared") / "shared.db")
    yield store
    store.close()


@pytest.mark.parametrize("round_", range(4))
async def test_one_store_serves_each_tests_own_loop(shared_store: Any, round_: int) -> None:
    loop = asyncio.get_running_loop()
    previous = _SHARED.get("loop")
    assert previous is None or previous() is not loop  # pytest-asyncio: a new loop per test
    _SHARED["loop"] = weakref.ref(loop)
    snaps = [make_snapshot(f"per_test_{round_}", v, {"round": round_}) for v in range(1, 11)]
    await asyncio.gather(*(shared_store.save(s) for s in snaps))
    for snap in snaps:
        assert_same_snapshot(await shared_store.get(snap.task_id, snap.version), snap)
    for earlier in range(round_):
        assert await shared_store.list_versions(f"per_test_{earlier}") == list(range(1, 11))


def test_loops_in_different_threads_at_once(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)

    def run(n: int) -> None:
        async def main() -> None:
            async def one(v: int) -> None:
                snap = make_snapshot(f"threaded_{n}", v, {"n": n})
                await store.save(snap)
                assert_same_snapshot(await store.get(snap.task_id, v), snap)

            await asyncio.gather(*(one(v) for v in range(1, 101)))
            assert bridge_for_running_loop().pending == 0

        asyncio.run(main())

    run_threads(4, run, timeout=120)
    assert count_rows(db_path) == 400
    store.close()


def test_works_on_uvloop(db_path: Path) -> None:
    uvloop = pytest.importorskip("uvloop")
    store = SQLiteAsyncSnapshotStore(db_path)
    sync_store = SQLiteSnapshotStore(db_path)
    metering = SQLiteMeteringStore(db_path)

    async def main() -> dict[str, int]:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        snaps = [make_snapshot(f"uv_{i % 8}", i // 8 + 1, {"i": i}) for i in range(200)]

        async def one(snap: Any) -> None:
            await store.save(snap)
            assert_same_snapshot(await store.get(snap.task_id, snap.version), snap)
            await sync_store.save_async(snap)
            assert await sync_store.list_versions_async(snap.task_id)

        async with LagMonitor() as lag:
            await asyncio.gather(*(one(s) for s in snaps))
            await asyncio.gather(*(metering.record(make_event("uv_agent")) for _ in range(50)))
        assert (await metering.aggregate("uv_agent", "x")).total_api_calls == 50
        # Cancellation on uvloop too.
        with WriteLock(db_path):
            pending = [
                asyncio.create_task(store.save(make_snapshot("uv_cancel", v))) for v in (1, 2)
            ]
            await asyncio.sleep(0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await wait_until(lambda: bridge_for_running_loop().pending == 0)
        assert await store.list_versions("uv_cancel") == [1, 2]
        return {"samples": lag.figures()["samples"]}

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        result = runner.run(main())
    assert result["samples"] > 0
    assert count_rows(db_path, "task_id LIKE 'uv_%' AND task_id != 'uv_cancel'") == 200
    store.close()
    sync_store.close()
    metering.close()


# --- cancellation ------------------------------------------------------------------------------


@pytest.mark.same_sqlite_in_process
async def test_cancelled_awaits_neither_crash_nor_leak_and_writes_still_commit(
    db_path: Path,
) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    bridge = bridge_for_running_loop()
    await store.save(make_snapshot("seed", 1))
    assert bridge.pending == 0

    with WriteLock(db_path):
        saves = [
            asyncio.create_task(store.save(make_snapshot(f"cancel_{i}", 1))) for i in range(100)
        ]
        # A read and a delete queued behind writes of their task, a list on a reader thread.
        read = asyncio.create_task(store.get("cancel_7"))
        remove = asyncio.create_task(store.delete("cancel_8"))
        listing = asyncio.create_task(store.list_versions("seed"))
        await asyncio.sleep(0)  # everything submitted; no write can commit yet
        assert bridge.pending >= 102
        everything = [*saves, read, remove, listing]
        for task in everything:
            task.cancel()
        results = await asyncio.gather(*everything, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results), results
        assert count_rows(db_path, "task_id LIKE 'cancel_%'") == 0

    # Cancelled requests stay in the bridge until their results arrive, then go.
    await wait_until(lambda: bridge.pending == 0)
    # The documented promise: a cancelled write is still committed (and the cancelled
    # delete, queued after the save of its task, still ran).
    assert count_rows(db_path, "task_id LIKE 'cancel_%'") == 99
    assert count_rows(db_path, "task_id = 'cancel_8'") == 0

    # A timeout cancels too.
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(store.save(make_snapshot("timed_out", 1)), timeout=0)
    await wait_until(lambda: bridge.pending == 0)
    # wait_for(timeout=0) may cancel the coroutine before it submitted anything; if it did
    # submit, the write is committed.
    assert count_rows(db_path, "task_id = 'timed_out'") in (0, 1)

    # The store and the loop are fine afterwards.
    snap = make_snapshot("after_cancel", 1)
    await store.save(snap)
    assert_same_snapshot(await store.get("after_cancel"), snap)
    assert reported == []
    store.close()


async def test_cancelling_a_failing_await_reports_nothing(db_path: Path) -> None:
    """A cancelled await whose request later fails must not log 'exception never retrieved'."""
    store = SQLiteAsyncSnapshotStore(db_path)
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON snapshots WHEN NEW.task_id = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
        )
        conn.commit()
    with WriteLock(db_path):
        task = asyncio.create_task(store.save(make_snapshot("poison", 1)))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await wait_until(lambda: bridge_for_running_loop().pending == 0)
    gc.collect()
    await asyncio.sleep(0)
    assert reported == []
    store.close()


# --- the bridge keeps nothing per finished loop ----------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


def test_many_loops_in_sequence_leak_neither_loops_nor_descriptors(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def use(n: int) -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        snap = make_snapshot("sequence", n + 1, {"n": n})
        await store.save(snap)
        assert_same_snapshot(await store.get("sequence"), snap)
        if n:
            earlier = await store.get("sequence", n)
            assert earlier is not None and earlier.data == {"n": n - 1}

    asyncio.run(use(0))  # warm up: the store's threads and the first bridge
    gc.collect()
    fds_before = _open_fds()
    for n in range(1, 30):
        asyncio.run(use(n))
    gc.collect()
    assert store_versions(db_path) == 30
    # Every finished loop can be collected, and its eventfd is closed with its bridge (the
    # most recent bridge may be cached until the next loop asks for one).
    assert sum(ref() is not None for ref in loops) <= 1
    assert _open_fds() - fds_before <= 1
    store.close()


def store_versions(db_path: Path) -> int:
    return count_rows(db_path, "task_id = 'sequence'")
