"""Lifecycle of the awaitable stores: close() and ``async with``, closing while work is
queued (also from several threads), garbage collection and closed loops with work pending,
interpreter exit with writes in flight (in a subprocess, with a timeout), and fork()."""

from __future__ import annotations

import asyncio
import gc
import json
import sqlite3
import subprocess
import threading
import time
import weakref
from contextlib import closing
from pathlib import Path

import pytest
from _async_helpers import (
    PATIENCE,
    WriteLock,
    assert_clean_exit,
    count_rows,
    integrity_check,
    read_line,
    run_python,
    spawn_python,
    wait_until,
)
from conftest import assert_same_snapshot, make_event, make_snapshot

from asap_native import (
    SQLiteAsyncSnapshotStore,
    SQLiteMeteringStore,
    SQLiteSnapshotStore,
    StoreClosedError,
)
from asap_native.loop_bridge import bridge_for_running_loop


def _usage_rows(db_path: Path, agent_id: str) -> int:
    with closing(sqlite3.connect(db_path)) as conn:
        count = conn.execute("SELECT count(*) FROM usage_events WHERE agent_id = ?", (agent_id,))
        result = int(count.fetchone()[0])
    conn.close()
    return result


def _create_tables(db_path: Path) -> None:
    """Both stores' tables exist, so a later store opens without needing the write lock."""
    SQLiteSnapshotStore(db_path).close()
    SQLiteMeteringStore(db_path).close()


def _release_later(lock: WriteLock, delay: float) -> threading.Thread:
    """Releases ``lock`` from another thread after ``delay`` seconds."""

    def run() -> None:
        time.sleep(delay)
        lock.release()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --- close(), async with ------------------------------------------------------------------


async def test_a_closed_store_raises_store_closed_error_everywhere(db_path: Path) -> None:
    snapshots = SQLiteAsyncSnapshotStore(db_path)
    both = SQLiteSnapshotStore(db_path)
    metering = SQLiteMeteringStore(db_path)
    snap = make_snapshot("closed", 1)
    event = make_event("closed_agent")
    for store in (snapshots, both, metering):
        assert store.closed is False
        store.close()
        assert store.closed is True
        store.close()  # idempotent
    calls = [
        lambda: snapshots.save(snap),
        lambda: snapshots.get("closed"),
        lambda: snapshots.get("closed", 1),
        lambda: snapshots.list_versions("closed"),
        lambda: snapshots.delete("closed"),
        lambda: both.save_async(snap),
        lambda: both.get_async("closed"),
        lambda: both.list_versions_async("closed"),
        lambda: both.delete_async("closed", 1),
        lambda: metering.record(event),
        lambda: metering.query("closed_agent", event.timestamp, event.timestamp),
        lambda: metering.aggregate("closed_agent", "day"),
    ]
    for call in calls:
        with pytest.raises(StoreClosedError) as raised:
            await call()
        assert isinstance(raised.value, sqlite3.ProgrammingError)
        assert "closed" in str(raised.value)
    for sync_call in (
        lambda: both.save(snap),
        lambda: both.get("closed"),
        lambda: both.list_versions("closed"),
        lambda: both.delete("closed"),
        lambda: metering.record_sync(event),
        lambda: metering.aggregate_sync("closed_agent", "day"),
    ):
        with pytest.raises(StoreClosedError):
            sync_call()
    assert bridge_for_running_loop().pending == 0  # a refused call leaves nothing behind


async def test_async_with_closes_even_when_the_body_raises(db_path: Path) -> None:
    snap = make_snapshot("ctx", 1, {"kept": True})
    async with SQLiteAsyncSnapshotStore(db_path) as store:
        await store.save(snap)
    assert store.closed
    with pytest.raises(StoreClosedError):
        await store.get("ctx")

    other = SQLiteSnapshotStore(db_path)

    async def body_that_fails() -> None:
        async with other:
            await other.save_async(make_snapshot("ctx", 2))
            raise RuntimeError("body failed")

    with pytest.raises(RuntimeError, match="body failed"):
        await body_that_fails()
    assert other.closed
    async with SQLiteMeteringStore(db_path) as metering:
        await metering.record(make_event("ctx_agent"))
    assert metering.closed
    async with SQLiteAsyncSnapshotStore(db_path) as reopened:
        assert_same_snapshot(await reopened.get("ctx", 1), snap)
        assert await reopened.list_versions("ctx") == [1, 2]
    assert _usage_rows(db_path, "ctx_agent") == 1


@pytest.mark.same_sqlite_in_process
async def test_close_waits_for_queued_work_and_every_await_still_succeeds(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    metering = SQLiteMeteringStore(db_path)
    await store.save(make_snapshot("warm", 1))
    lock = WriteLock(db_path).acquire()
    saves = [asyncio.create_task(store.save(make_snapshot(f"queued_{i}", 1))) for i in range(100)]
    records = [asyncio.create_task(metering.record(make_event("queued_agent"))) for _ in range(20)]
    await asyncio.sleep(0)  # all submitted; none can commit while the lock is held
    assert count_rows(db_path, "task_id LIKE 'queued_%'") == 0
    releaser = _release_later(lock, 0.2)
    # close() blocks this loop on purpose: it returns once the queued writes are committed.
    store.close()
    metering.close()
    assert count_rows(db_path, "task_id LIKE 'queued_%'") == 100
    assert _usage_rows(db_path, "queued_agent") == 20
    # The awaits get their results once the loop runs again.
    assert await asyncio.gather(*saves, *records) == [None] * 120
    assert bridge_for_running_loop().pending == 0
    releaser.join()
    lock.close()


async def test_close_from_several_threads_at_once(db_path: Path) -> None:
    """close() racing close() must neither hang nor raise (they used to join one thread twice)."""
    store = SQLiteAsyncSnapshotStore(db_path)
    await store.save(make_snapshot("warm", 1))
    lock = WriteLock(db_path).acquire()
    saves = [asyncio.create_task(store.save(make_snapshot(f"race_{i}", 1))) for i in range(50)]
    await asyncio.sleep(0)
    errors: list[BaseException] = []

    def close() -> None:
        try:
            store.close()
        except BaseException as error:
            errors.append(error)

    closers = [threading.Thread(target=close, daemon=True) for _ in range(4)]
    for closer in closers:
        closer.start()
    time.sleep(0.05)  # the closers are waiting for the writer
    lock.close()
    for closer in closers:
        closer.join(timeout=PATIENCE)
    assert not any(closer.is_alive() for closer in closers), "close() hung"
    assert errors == []
    assert store.closed
    assert await asyncio.gather(*saves) == [None] * 50
    assert count_rows(db_path, "task_id LIKE 'race_%'") == 50


# --- garbage collection and closed loops with work pending ---------------------------------


async def test_collecting_a_store_with_work_pending_commits_it(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    await store.save(make_snapshot("warm", 1))
    bridge = bridge_for_running_loop()
    lock = WriteLock(db_path).acquire()
    # Start each save and abandon it at its await: close() ends the coroutine there, the
    # way a cancelled task would, without a CancelledError traceback keeping its frame (and
    # the store) alive.
    for i in range(100):
        coro = store.save(make_snapshot(f"orphan_{i}", 1))
        coro.send(None)  # submits the write, then waits on the bridge's future
        coro.close()
    del coro
    assert bridge.pending == 100
    ref = weakref.ref(store)
    releaser = _release_later(lock, 0.2)
    del store
    gc.collect()
    assert ref() is None
    # Collection closed the store, which waited for its queued writes.
    assert count_rows(db_path, "task_id LIKE 'orphan_%'") == 100
    await wait_until(lambda: bridge.pending == 0)
    releaser.join()
    lock.close()


@pytest.mark.same_sqlite_in_process
def test_a_loop_closed_with_work_pending(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    asyncio.run(store.save(make_snapshot("warm", 1)))
    loop = asyncio.new_event_loop()
    with WriteLock(db_path):
        tasks = [loop.create_task(store.save(make_snapshot("abandoned", v))) for v in range(1, 21)]
        loop.run_until_complete(asyncio.sleep(0))  # submitted, not committed
        loop.close()  # the awaits are never resumed
    # The writes still happen, and the store works from a new loop: a get of the same task
    # runs after the writes that were queued for it.
    got = asyncio.run(store.get("abandoned"))
    assert got is not None and got.version == 20
    assert count_rows(db_path, "task_id = 'abandoned'") == 20
    assert all(not task.done() for task in tasks)
    del tasks, loop
    gc.collect()
    snap = make_snapshot("after_closed_loop", 1)
    asyncio.run(store.save(snap))
    assert_same_snapshot(asyncio.run(store.get("after_closed_loop")), snap)
    store.close()


# --- interpreter exit (subprocesses) --------------------------------------------------------

_EXIT_WITH_OPEN_LOOP = """
    import asyncio, sys
    from conftest import make_event, make_snapshot
    from asap_native import SQLiteAsyncSnapshotStore, SQLiteMeteringStore

    store = SQLiteAsyncSnapshotStore(sys.argv[1])
    metering = SQLiteMeteringStore(sys.argv[1])
    loop = asyncio.new_event_loop()
    tasks = [loop.create_task(store.save(make_snapshot(f"exit_{i}", 1))) for i in range(200)]
    tasks += [loop.create_task(metering.record(make_event("exit_agent"))) for _ in range(50)]
    loop.run_until_complete(asyncio.sleep(0))
    print("submitted", flush=True)
    # Leave with the loop open, the awaits pending and the writes queued.
"""

_EXIT_AFTER_ASYNCIO_RUN = """
    import asyncio, sys
    from conftest import make_snapshot
    from asap_native import SQLiteSnapshotStore

    store = SQLiteSnapshotStore(sys.argv[1])

    async def main():
        for i in range(200):
            asyncio.get_running_loop().create_task(store.save_async(make_snapshot(f"exit_{i}", 1)))
        await asyncio.sleep(0)
        print("submitted", flush=True)
        # asyncio.run cancels the pending awaits and closes the loop.

    asyncio.run(main())
"""


@pytest.mark.parametrize("script", [_EXIT_WITH_OPEN_LOOP, _EXIT_AFTER_ASYNCIO_RUN])
def test_interpreter_exit_commits_pending_writes(script: str, db_path: Path) -> None:
    _create_tables(db_path)
    lock = WriteLock(db_path).acquire()
    child = spawn_python(script, str(db_path))
    try:
        assert child.stdout is not None
        line = read_line(child.stdout)
        assert line.strip() == "submitted", (line, child.stderr.read() if child.stderr else "")
        time.sleep(0.3)  # the child is exiting while its writes wait for our lock
        assert count_rows(db_path, "task_id LIKE 'exit_%'") == 0
    finally:
        lock.close()
    out, err = child.communicate(timeout=PATIENCE)
    result = type("Result", (), {"returncode": child.returncode, "stdout": out, "stderr": err})
    assert_clean_exit(result)  # type: ignore[arg-type]
    assert count_rows(db_path, "task_id LIKE 'exit_%'") == 200
    if "metering" in script:
        assert _usage_rows(db_path, "exit_agent") == 50
    assert integrity_check(db_path) == "ok"


_EXIT_WITH_A_BUSY_DAEMON_THREAD = """
    import asyncio, sys, threading
    from conftest import make_snapshot
    from asap_native import SQLiteAsyncSnapshotStore, SQLiteSnapshotStore, StoreClosedError

    mode = sys.argv[2]
    opener = SQLiteAsyncSnapshotStore if mode == "async" else SQLiteSnapshotStore
    store = opener(sys.argv[1])
    started = threading.Event()

    def run():
        try:
            work()
        except StoreClosedError:
            pass  # expected: exit closes the store (committing what was queued) under us

    def work():
        if mode == "async":
            async def main():
                version = 0
                while True:
                    version += 1
                    await store.save(make_snapshot("daemon", version))
                    if version == 20:
                        started.set()
            asyncio.run(main())
        else:
            version = 0
            while True:
                version += 1
                store.save(make_snapshot("daemon", version))
                store.get("daemon")
                if version == 20:
                    started.set()

    threading.Thread(target=run, daemon=True).start()
    assert started.wait(60)
    print("running", flush=True)
    # The main thread exits while the daemon thread keeps the store busy.
"""


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_interpreter_exit_with_a_daemon_thread_using_the_store(mode: str, db_path: Path) -> None:
    for _ in range(3):  # the race with finalization differs from run to run
        result = run_python(_EXIT_WITH_A_BUSY_DAEMON_THREAD, str(db_path), mode)
        assert_clean_exit(result)
        assert result.stdout.strip() == "running"
    # Every save was awaited before the next began: the versions have no gaps.
    with closing(sqlite3.connect(db_path)) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM snapshots ORDER BY version")]
    conn.close()
    assert len(versions) >= 20
    assert versions == list(range(1, len(versions) + 1))
    assert integrity_check(db_path) == "ok"


# --- fork ------------------------------------------------------------------------------------

_FORK_SCRIPT = """
    import asyncio, json, os, sys, threading
    from conftest import make_snapshot
    from asap_native import SQLiteAsyncSnapshotStore, SQLiteSnapshotStore, StoreError
    from asap_native.loop_bridge import bridge_for_running_loop

    path, mode = sys.argv[1], sys.argv[2]
    store = SQLiteSnapshotStore(path)
    astore = SQLiteAsyncSnapshotStore(path)

    async def warm():
        await astore.save(make_snapshot("parent", 1))
        await store.save_async(make_snapshot("parent", 2))
        assert (await astore.get("parent")).version == 2
    asyncio.run(warm())  # the executors' threads run, a bridge existed
    store.save(make_snapshot("parent", 3))

    if mode == "inflight":
        # Writes queued (the test takes the write lock now) while the process forks, with a
        # loop running in another thread.
        print("warm", flush=True)
        assert sys.stdin.readline().strip() == "locked"
        loop = asyncio.new_event_loop()
        runner = threading.Thread(target=loop.run_forever)
        runner.start()
        pending = [
            asyncio.run_coroutine_threadsafe(astore.save(make_snapshot("inflight", v)), loop)
            for v in range(1, 21)
        ]
        async def submitted():
            # Runs after the 20 saves' first steps: each has submitted its write by now.
            return bridge_for_running_loop().pending
        assert asyncio.run_coroutine_threadsafe(submitted(), loop).result(30) == 20
        print("forking", flush=True)

    pid = os.fork()
    if pid == 0:
        code, report = 0, "works"
        try:
            store.save(make_snapshot("child", 1))
            assert store.get("child").version == 1

            async def child():
                await astore.save(make_snapshot("child", 2))
                await store.save_async(make_snapshot("child", 3))
                assert await astore.list_versions("child") == [1, 2, 3]
                assert (await astore.get("parent")).version == 3
            asyncio.run(child())
        except StoreError as error:  # the alternative the contract allows: a clear error
            code, report = 3, f"error: {type(error).__name__}: {error}"
        except BaseException as error:
            code, report = 4, f"unexpected: {type(error).__name__}: {error}"
        print(json.dumps({"who": "child", "report": report}), flush=True)
        if mode == "exit":
            sys.exit(code)  # atexit handlers (store finalizers) run in the child
        os._exit(code)

    if mode == "inflight":
        for future in pending:
            future.result(60)
        loop.call_soon_threadsafe(loop.stop)
        runner.join()
    _, status = os.waitpid(pid, 0)
    store.save(make_snapshot("parent", 4))
    asyncio.run(astore.save(make_snapshot("parent", 5)))
    assert asyncio.run(astore.list_versions("parent")) == [1, 2, 3, 4, 5]
    exit_code = os.waitstatus_to_exitcode(status)
    print(json.dumps({"who": "parent", "child_exit": exit_code}), flush=True)
"""


@pytest.mark.parametrize(
    "mode",
    [
        "exit",
        "os_exit",
        "inflight",
    ],
)
def test_a_store_used_after_fork_works_and_never_corrupts(mode: str, db_path: Path) -> None:
    _create_tables(db_path)
    lock = WriteLock(db_path)
    child = spawn_python(_FORK_SCRIPT, str(db_path), mode)
    try:
        if mode == "inflight":
            assert child.stdout is not None and child.stdin is not None
            line = read_line(child.stdout)
            assert line.strip() == "warm", (line, child.stderr.read() if child.stderr else "")
            lock.acquire()
            child.stdin.write("locked\n")
            child.stdin.flush()
            line = read_line(child.stdout)
            assert line.strip() == "forking", (line, child.stderr.read() if child.stderr else "")
            time.sleep(0.2)  # the child starts while the parent's writes wait for the lock
            lock.release()
        out, err = child.communicate(timeout=30)
    finally:
        lock.close()
        if child.poll() is None:
            child.kill()
            # The forked grandchild may be the one stuck; it is in our process group's tree.
            subprocess.run(["pkill", "-9", "-P", str(child.pid)], check=False)
    detail = f"exit {child.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    assert child.returncode == 0, detail
    lines = [line for line in out.splitlines() if line.startswith("{")]
    reports = {r["who"]: r for r in map(json.loads, lines)}
    child_report = reports["child"]["report"]
    assert child_report == "works" or child_report.startswith("error: "), detail
    assert reports["parent"]["child_exit"] == (0 if child_report == "works" else 3), detail
    assert integrity_check(db_path) == "ok"
    if child_report == "works":
        assert count_rows(db_path, "task_id = 'child'") == 3
    assert count_rows(db_path, "task_id = 'parent'") == 5
    if mode == "inflight":
        assert count_rows(db_path, "task_id = 'inflight'") == 20
    print(f"\n[fork {mode}] child: {child_report}")


_FORK_PARENT_CLOSES_FIRST = """
    import json, os, sys
    from conftest import make_snapshot
    from asap_native import SQLiteSnapshotStore, StoreError

    path = sys.argv[1]
    store = SQLiteSnapshotStore(path)
    store.save(make_snapshot("parent", 1))
    assert store.get("parent").version == 1
    child_reads, parent_writes = os.pipe()
    parent_reads, child_writes = os.pipe()
    pid = os.fork()
    if pid == 0:
        acknowledged, error = [], None
        try:
            store.save(make_snapshot("child", 1))
            acknowledged.append(1)
            os.write(child_writes, b"1")
            os.read(child_reads, 1)  # the parent has closed its store
            for version in range(2, 51):
                store.save(make_snapshot("child", version))
                acknowledged.append(version)
            store.close()
        except StoreError as exc:  # a clear error is allowed; silent loss is not
            error = f"{type(exc).__name__}: {exc}"
        print(json.dumps({"acknowledged": acknowledged, "error": error}), flush=True)
        os._exit(0)
    os.read(parent_reads, 1)
    store.close()  # the parent's last connection goes while the child keeps writing
    os.write(parent_writes, b"1")
    os.waitpid(pid, 0)
"""


def test_a_forked_child_keeps_every_acknowledged_write_when_the_parent_closes_first(
    db_path: Path,
) -> None:
    result = run_python(_FORK_PARENT_CLOSES_FIRST, str(db_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    acknowledged = report["acknowledged"]
    assert acknowledged[:1] == [1], report
    with closing(sqlite3.connect(db_path)) as conn:
        stored = [
            row[0]
            for row in conn.execute(
                "SELECT version FROM snapshots WHERE task_id = 'child' ORDER BY version"
            )
        ]
    conn.close()
    # Every save that returned without an error must be in the database.
    assert stored == acknowledged, report
    assert integrity_check(db_path) == "ok"


# --- bridges ---------------------------------------------------------------------------------


async def test_a_request_refused_at_submit_leaves_no_pending_future(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    bridge = bridge_for_running_loop()
    for bad in (
        lambda: store.get(object()),  # sqlite3 cannot bind it: ProgrammingError, as asap's
        lambda: store.save(object()),
        lambda: store.get("x", version=[1]),
    ):
        with pytest.raises((TypeError, ValueError, sqlite3.ProgrammingError)):
            await bad()
    assert bridge.pending == 0
    store.close()
    with pytest.raises(StoreClosedError):
        await store.save(make_snapshot("late", 1))
    assert bridge.pending == 0


def test_no_running_loop_is_a_clear_error(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    coro = store.save(make_snapshot("no_loop", 1))
    with pytest.raises(RuntimeError):
        coro.send(None)  # driven without an event loop
    coro.close()
    assert count_rows(db_path, "task_id = 'no_loop'") == 0
    store.close()
