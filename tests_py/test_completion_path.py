"""The completion path of the awaitable API (``loop_bridge`` and ``_core.CompletionQueue``):
no failure anywhere on it may lose a result, leave an await hanging or stop the loop from
serving later calls.

Every await here would complete on its own; ``wait_for(PATIENCE)`` only turns a regression
(a hang) into a failure instead of a stuck test run.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from _async_helpers import PATIENCE, wait_until
from conftest import BASE_TIME, make_event, make_snapshot

import asap_native
from asap_native import SQLiteAsyncSnapshotStore, SQLiteMeteringStore, StoredDataError, _core
from asap_native.loop_bridge import LoopBridge, bridge_for_running_loop

UTC = timezone.utc

# Stored `data` values another program (or a hand edit) may leave in the table.
UNREADABLE_DATA: dict[str, Any] = {
    "not-json": "{bad",
    "empty": "",
    "trailing-comma": '{"l":["2024-01-01T00:00:00",]}',
    "blob": b"\x00\x01\x02",
    "invalid-utf8": b'{"a": "\xff\xfe"}',
    "array": "[1, 2]",
    "null": "null",
    "number": "5",
}


def _insert_rows(path: Path, rows: int, bad_every: int, bad_data: Any) -> list[int]:
    """Rows t0..t{rows-1} written by plain sqlite3; every `bad_every`-th holds `bad_data`."""
    bad: list[int] = []
    with closing(sqlite3.connect(path)) as conn:
        for i in range(rows):
            data: Any = f'{{"i": {i}}}'
            if i % bad_every == 0:
                data, _ = bad_data, bad.append(i)
            # invalid UTF-8 goes in as TEXT (CAST), as a C program writing bytes would leave it
            conn.execute(
                "INSERT INTO snapshots VALUES (?, ?, 1, CAST(? AS TEXT), 0, ?)"
                if isinstance(data, bytes) and b"{" in data
                else "INSERT INTO snapshots VALUES (?, ?, 1, ?, 0, ?)",
                (f"t{i}", f"s{i}", data, "2024-01-01T00:00:00+00:00"),
            )
        conn.commit()
    return bad


async def _settle(*calls: Awaitable[Any]) -> list[Any]:
    return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), PATIENCE)


@pytest.mark.parametrize("kind", list(UNREADABLE_DATA))
async def test_unreadable_rows_fail_only_their_own_awaits(db_path: Path, kind: str) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    bad = _insert_rows(db_path, 400, 10, UNREADABLE_DATA[kind])
    results = await _settle(*(store.get(f"t{i}") for i in range(400)))
    for i, result in enumerate(results):
        if i in bad:
            assert isinstance(result, StoredDataError), (i, result)
            assert isinstance(result, ValueError) and isinstance(result, sqlite3.DatabaseError)
            assert f"task 't{i}' version 1" in str(result)
            assert result.__cause__ is not None or kind in ("array", "null", "number")
        else:
            assert not isinstance(result, BaseException), (i, result)
            assert result.data == {"i": i}
    # The sync API raises the same error, and the loop still serves every store.
    with (
        asap_native.SQLiteSnapshotStore(db_path) as sync_store,
        pytest.raises(StoredDataError, match="task 't0' version 1"),
    ):
        sync_store.get("t0")
    assert (await store.get("t1")).data == {"i": 1}
    meter = SQLiteMeteringStore(db_path)
    await meter.record(make_event("agent"))
    assert len(await meter.query("agent", BASE_TIME, BASE_TIME)) == 1
    store.close()
    meter.close()


async def test_asap_protocol_fails_the_same_calls(db_path: Path) -> None:
    from asap.state.stores.sqlite import SQLiteAsyncSnapshotStore as AsapStore

    SQLiteAsyncSnapshotStore(db_path).close()
    bad = _insert_rows(db_path, 400, 10, "{bad")
    ours = await _settle(*(SQLiteAsyncSnapshotStore(db_path).get(f"t{i}") for i in range(400)))
    asap = AsapStore(db_path)
    theirs = await _settle(*(asap.get(f"t{i}") for i in range(400)))
    assert [i for i, r in enumerate(ours) if isinstance(r, ValueError)] == bad
    assert [i for i, r in enumerate(theirs) if isinstance(r, ValueError)] == bad
    assert [r.data for r in ours if not isinstance(r, BaseException)] == [
        r.data for r in theirs if not isinstance(r, BaseException)
    ]


async def test_unreadable_usage_rows_fail_only_their_queries(db_path: Path) -> None:
    meter = SQLiteMeteringStore(db_path)
    for agent in ("good", "bad"):
        await meter.record(make_event(agent))
    with closing(sqlite3.connect(db_path)) as conn:
        conn.execute("UPDATE usage_events SET metrics = '{oops' WHERE agent_id = 'bad'")
        (bad_id,) = conn.execute("SELECT id FROM usage_events WHERE agent_id = 'bad'").fetchone()
        conn.commit()
    window = (BASE_TIME, BASE_TIME)
    good, failed, total = await _settle(
        meter.query("good", *window), meter.query("bad", *window), meter.aggregate("bad", "day")
    )
    assert len(good) == 1
    for error in (failed, total):
        assert isinstance(error, StoredDataError) and isinstance(error, ValueError), error
        assert bad_id in str(error)
    assert (await meter.aggregate("good", "day")).total_tasks == 1
    meter.close()


# --- fault injection: a failure at each step of the completion path, of each kind ---------

FAULT_KINDS = {
    # kind -> the exception the faulted call gets when its conversion fails
    "python_error": RuntimeError,
    "builtin_error": ValueError,
    "cpp_error": RuntimeError,
    "bad_alloc": MemoryError,
    "memory_error": MemoryError,
    "unknown": RuntimeError,
}


@pytest.fixture
def faults() -> Iterator[None]:
    _core._clear_faults()
    yield
    _core._clear_faults()


class _Workload:
    """A mix of every awaitable call, each with the outcome it must have."""

    def __init__(self, path: Path) -> None:
        self.snapshots = asap_native.SQLiteSnapshotStore(path)
        self.meter = SQLiteMeteringStore(path)
        for version in (1, 2):
            self.snapshots.save(make_snapshot("kept", version))
        self.snapshots.save(make_snapshot("unreadable", 1))
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("UPDATE snapshots SET data = '{bad' WHERE task_id = 'unreadable'")
            conn.commit()
        self.meter.record_sync(make_event("agent"))

    def calls(self, round_: int) -> list[tuple[Awaitable[Any], Callable[[Any], bool]]]:
        s, m = self.snapshots, self.meter
        saved = make_snapshot(f"new_{round_}", 1, {"round": round_})
        return [
            (s.get_async("kept"), lambda r: r.version == 2),
            (s.get_async("missing"), lambda r: r is None),
            (s.get_async("unreadable"), lambda r: isinstance(r, StoredDataError)),
            (s.save_async(saved), lambda r: r is None),
            (s.list_versions_async("kept"), lambda r: r == [1, 2]),
            (s.delete_async("missing"), lambda r: r is False),
            (m.record(make_event("agent")), lambda r: r is None),
            (m.query("agent", BASE_TIME, BASE_TIME), lambda r: len(r) >= 1),
            (m.aggregate("agent", "day"), lambda r: r.total_tasks >= 1),
        ]

    def close(self) -> None:
        self.snapshots.close()
        self.meter.close()


@pytest.mark.parametrize("kind", list(FAULT_KINDS))
@pytest.mark.parametrize("skip", [0, 3, 7])
async def test_a_failing_conversion_fails_only_its_own_await(
    db_path: Path, faults: None, kind: str, skip: int
) -> None:
    work = _Workload(db_path)
    _core._inject_fault("convert", kind, skip=skip, times=2)
    calls = work.calls(0)
    results = await _settle(*(call for call, _ in calls))
    injected = [
        r
        for r in results
        if type(r) is FAULT_KINDS[kind]
        and (kind in ("bad_alloc", "memory_error") or "injected" in str(r) or "unknown" in str(r))
    ]
    # Conversions run for the calls that succeeded: two of them got the injected error.
    assert len(injected) == 2, results
    for (_, expected), result in zip(calls, results, strict=False):
        assert result in injected or expected(result), result
    _core._clear_faults()
    # Nothing is stuck: the next round on the same loop completes in full.
    later = work.calls(1)
    outcomes = await _settle(*(call for call, _ in later))
    for (_, expected), result in zip(later, outcomes, strict=True):
        assert expected(result), result
    assert bridge_for_running_loop().pending == 0
    work.close()


@pytest.mark.parametrize("point", ["drain", "error_object"])
@pytest.mark.parametrize("kind", list(FAULT_KINDS))
async def test_a_failing_hand_over_loses_nothing(
    db_path: Path, faults: None, point: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    work = _Workload(db_path)
    _core._inject_fault(point, kind, skip=1, times=3)
    calls = work.calls(0)
    results = await _settle(*(call for call, _ in calls))
    # The queue took back what it could not hand over; every call ends with its own outcome.
    for (_, expected), result in zip(calls, results, strict=False):
        assert expected(result), result
    if point == "drain":
        assert "handing store results to the event loop failed" in caplog.text
    assert bridge_for_running_loop().stats()["waiting"] == 0
    assert bridge_for_running_loop().pending == 0
    work.close()


async def test_results_of_cancelled_or_already_done_futures_are_dropped(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    await store.save(make_snapshot("t", 1))
    tasks = [asyncio.ensure_future(store.get("t")) for _ in range(40)]
    await asyncio.sleep(0)  # every call submitted
    bridge = bridge_for_running_loop()
    for task in tasks[::2]:
        task.cancel()
    # A future completed by someone else before its result arrives.
    pending = list(bridge._futures.values())
    pending[-1].set_result("set elsewhere")
    results = await _settle(*tasks)
    for i, result in enumerate(results):
        if i % 2 == 0:
            assert isinstance(result, asyncio.CancelledError)
        elif i == len(tasks) - 1:
            assert result == "set elsewhere"
        else:
            assert result.version == 1
    # The futures nobody waits for any more are forgotten as their results come in.
    await wait_until(lambda: bridge.pending == 0)
    assert (await store.get("t")).version == 1
    store.close()


async def test_a_future_that_refuses_its_result_still_ends_its_await(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    await store.save(make_snapshot("t", 1))
    loop = asyncio.get_running_loop()

    class Refusing(asyncio.Future):  # type: ignore[type-arg]
        def set_result(self, result: Any) -> None:
            raise RuntimeError("this future refuses results")

    def expect_refusing(bridge: LoopBridge, request_id: int) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = Refusing(loop=loop)
        bridge._futures[request_id] = future
        return future

    with monkeypatch.context() as patch:
        patch.setattr(LoopBridge, "expect", expect_refusing)
        first = asyncio.ensure_future(store.get("t"))
        await asyncio.sleep(0)  # submitted with the refusing future
    others = [store.get("t") for _ in range(10)]
    results = await _settle(first, *others)
    assert isinstance(results[0], RuntimeError) and "refuses" in str(results[0])
    assert all(r.version == 1 for r in results[1:])
    store.close()


async def test_a_done_callback_that_raises_does_not_stop_other_results(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    await store.save(make_snapshot("t", 1))
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        tasks = [asyncio.ensure_future(store.get("t")) for _ in range(20)]
        tasks[3].add_done_callback(lambda _: 1 / 0)
        results = await _settle(*tasks)
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert all(r.version == 1 for r in results)
    assert any(isinstance(c.get("exception"), ZeroDivisionError) for c in reported)
    store.close()


def test_a_loop_closed_with_results_on_their_way(db_path: Path) -> None:
    store = SQLiteAsyncSnapshotStore(db_path)
    store_sync = asap_native.SQLiteSnapshotStore(db_path)
    store_sync.save(make_snapshot("t", 1))
    loop = asyncio.new_event_loop()

    abandoned: list[asyncio.Future[Any]] = []

    async def start_many() -> None:
        for _ in range(100):
            abandoned.append(asyncio.ensure_future(store.get("t")))
            abandoned.append(asyncio.ensure_future(store.save(make_snapshot("t", 2))))

    loop.run_until_complete(start_many())
    loop.close()  # the calls complete into the queue of a loop nobody runs any more
    gc.collect()

    async def later() -> Any:
        return await asyncio.wait_for(store.get("t", 1), PATIENCE)

    assert asyncio.run(later()).version == 1
    store.close()  # waits for the abandoned calls: their writes are still committed
    assert store_sync.list_versions("t") == [1, 2]
    store_sync.close()


async def test_the_stored_json_of_a_save_is_always_readable(db_path: Path) -> None:
    # Defect seen before: a value whose encoding shrank its list left '[...,]' in the table.
    class Shrinking(datetime):
        def isoformat(self, *args: Any, **kwargs: Any) -> str:
            holder.clear()
            return super().isoformat(*args, **kwargs)

    holder: list[Any] = []
    holder.extend([Shrinking(2024, 1, 1, tzinfo=UTC), 1, 2])
    store = SQLiteAsyncSnapshotStore(db_path)
    snapshot = make_snapshot("t", 1)
    snapshot.data["l"] = holder
    await store.save(snapshot)
    got = await store.get("t")
    assert got.data["l"] == ["2024-01-01T00:00:00+00:00", 1, 2]
    store.close()
