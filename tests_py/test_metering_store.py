"""Metering stores through Python: record/query/aggregate, windows as instants, paging."""

from __future__ import annotations

import inspect
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest
from asap.state.metering import AsyncMeteringStore
from asap.state.metering import InMemoryMeteringStore as AsapInMemoryMeteringStore
from asap.state.metering import UsageAggregate as AsapUsageAggregate
from asap.state.metering import UsageEvent as AsapUsageEvent
from conftest import assert_same_event, make_event, open_metering_store

import asap_native
from asap_native import (
    InMemoryMeteringStore,
    SQLiteMeteringStore,
    StoreClosedError,
    StoredDataError,
)

UTC = timezone.utc
PLUS2 = timezone(timedelta(hours=2))
MINUS5 = timezone(timedelta(hours=-5))


def at(hour: int, minute: int = 0, tz: timezone = UTC, second: int = 0) -> datetime:
    return datetime(2024, 5, 17, hour, minute, second, tzinfo=tz)


# --- record and query ----------------------------------------------------------------------


async def test_record_then_query_returns_every_field(metering_store: Any) -> None:
    event = make_event(
        "agent_1",
        at(8, 30),
        task_id="task_9",
        consumer_id="consumer_7",
        tokens_in=11,
        tokens_out=22,
        duration_ms=333,
        api_calls=4,
    )
    await metering_store.record(event)
    got = await metering_store.query("agent_1", at(8), at(9))
    assert len(got) == 1
    assert_same_event(got[0], event)
    assert type(got[0]) is AsapUsageEvent


async def test_query_filters_by_agent(metering_store: Any) -> None:
    await metering_store.record(make_event("agent_1", at(8, 10)))
    await metering_store.record(make_event("agent_2", at(8, 20)))
    got = await metering_store.query("agent_1", at(8), at(9))
    assert [e.agent_id for e in got] == ["agent_1"]
    assert await metering_store.query("agent_3", at(0), at(23)) == []


async def test_query_window_is_inclusive(metering_store: Any) -> None:
    for minute in (0, 30):
        await metering_store.record(make_event("a", at(8, minute), task_id=f"t{minute}"))
    await metering_store.record(make_event("a", at(9), task_id="t60"))
    await metering_store.record(make_event("a", at(7, 59, second=59), task_id="before"))
    await metering_store.record(make_event("a", at(9, 0, second=1), task_id="after"))
    got = await metering_store.query("a", at(8), at(9))
    assert [e.task_id for e in got] == ["t0", "t30", "t60"]
    exact = await metering_store.query("a", at(8, 30), at(8, 30))
    assert [e.task_id for e in exact] == ["t30"]


async def test_query_compares_instants_not_text(metering_store: Any) -> None:
    # 10:30+02:00 is 08:30Z: inside 08:00Z..09:00Z although its text sorts after "09:00".
    await metering_store.record(make_event("a", at(10, 30, PLUS2), task_id="inside_plus2"))
    # 08:30-05:00 is 13:30Z: outside, although its text sorts inside the window.
    await metering_store.record(make_event("a", at(8, 30, MINUS5), task_id="outside_minus5"))
    # 03:15-05:00 is 08:15Z: inside.
    await metering_store.record(make_event("a", at(3, 15, MINUS5), task_id="inside_minus5"))
    got = await metering_store.query("a", at(8), at(9))
    assert [e.task_id for e in got] == ["inside_minus5", "inside_plus2"]
    assert got[1].timestamp == at(8, 30)
    # Window bounds with offsets are instants too: 10:00+02:00..11:00+02:00 == 08:00Z..09:00Z.
    same = await metering_store.query("a", at(10, 0, PLUS2), at(11, 0, PLUS2))
    assert [e.task_id for e in same] == ["inside_minus5", "inside_plus2"]
    later = await metering_store.query("a", at(13), at(14))
    assert [e.task_id for e in later] == ["outside_minus5"]


async def test_query_orders_by_instant(metering_store: Any) -> None:
    stamps = {
        "c": at(8, 20),
        "a": at(10, 5, PLUS2),  # 08:05Z
        "d": at(3, 25, MINUS5),  # 08:25Z
        "b": at(8, 10),
    }
    for task_id, stamp in stamps.items():
        await metering_store.record(make_event("a", stamp, task_id=task_id))
    got = await metering_store.query("a", at(0), at(23))
    assert [e.task_id for e in got] == ["a", "b", "c", "d"]
    assert [e.timestamp for e in got] == sorted(stamps.values())


async def test_timestamp_offset_is_kept(metering_store: Any) -> None:
    stamp = at(10, 30, PLUS2)
    await metering_store.record(make_event("a", stamp))
    (got,) = await metering_store.query("a", at(8), at(9))
    assert got.timestamp == stamp
    assert got.timestamp.utcoffset() == timedelta(hours=2)


async def test_naive_datetimes_are_read_as_utc(metering_store: Any) -> None:
    await metering_store.record(make_event("a", datetime(2024, 5, 17, 8, 30), task_id="naive"))
    await metering_store.record(make_event("a", at(8, 45), task_id="aware"))
    got = await metering_store.query("a", at(8), at(9))
    assert [e.task_id for e in got] == ["naive", "aware"]
    naive_window = await metering_store.query(
        "a", datetime(2024, 5, 17, 8, 40), datetime(2024, 5, 17, 8, 50)
    )
    assert [e.task_id for e in naive_window] == ["aware"]


async def test_microseconds_matter(metering_store: Any) -> None:
    stamp = datetime(2024, 5, 17, 8, 0, 0, 500_000, tzinfo=UTC)
    await metering_store.record(make_event("a", stamp))
    assert await metering_store.query("a", at(8), stamp - timedelta(microseconds=1)) == []
    assert len(await metering_store.query("a", stamp, stamp)) == 1


async def test_empty_and_reversed_windows(metering_store: Any) -> None:
    await metering_store.record(make_event("a", at(8, 30)))
    assert await metering_store.query("a", at(9), at(8)) == []
    assert await metering_store.query("a", at(10), at(11)) == []


async def test_limit_and_offset_page_the_ordered_result(metering_store: Any) -> None:
    for minute in range(10):
        await metering_store.record(make_event("a", at(8, minute), task_id=f"t{minute}"))
    everything = [e.task_id for e in await metering_store.query("a", at(8), at(9))]
    assert everything == [f"t{m}" for m in range(10)]
    for limit in (None, 0, 1, 3, 10, 50):
        for offset in (0, 1, 4, 9, 10, 20):
            page = await metering_store.query("a", at(8), at(9), limit=limit, offset=offset)
            end = None if limit is None else offset + limit
            assert [e.task_id for e in page] == everything[offset:end], (limit, offset)
    positional = await metering_store.query("a", at(8), at(9), 2, 3)
    assert [e.task_id for e in positional] == ["t3", "t4"]


async def test_negative_offset_raises_value_error(metering_store: Any) -> None:
    await metering_store.record(make_event("a", at(8)))
    with pytest.raises(ValueError, match="offset"):
        await metering_store.query("a", at(8), at(9), offset=-1)
    with pytest.raises(ValueError, match="offset"):
        metering_store.query_sync("a", at(8), at(9), limit=5, offset=-3)
    assert len(await metering_store.query("a", at(8), at(9))) == 1


async def test_negative_limit_reads_as_in_asap(metering_store: Any) -> None:
    # asap-protocol's SQLite store binds it into LIMIT ?, where SQLite reads a negative limit
    # as none; its in-memory store slices matches[offset:offset + limit], dropping the last.
    for minute in range(3):
        await metering_store.record(make_event("a", at(8) + timedelta(minutes=minute)))
    expected = 2 if isinstance(metering_store, asap_native.InMemoryMeteringStore) else 3
    assert len(await metering_store.query("a", at(8), at(9), limit=-1)) == expected


async def test_asap_in_memory_store_also_rejects_negative_offset() -> None:
    # The contract mirrored above comes from asap-protocol itself.
    with pytest.raises(ValueError, match="offset must be non-negative"):
        await AsapInMemoryMeteringStore().query("a", at(8), at(9), offset=-1)


async def test_query_window_matches_asap_in_memory_store(metering_store: Any) -> None:
    # asap's in-memory store compares datetimes, i.e. instants: ours must agree with it.
    rng = random.Random(20240517)
    theirs = AsapInMemoryMeteringStore()
    zones = [UTC, PLUS2, MINUS5, timezone(timedelta(hours=5, minutes=30))]
    for i in range(200):
        stamp = at(0, tz=rng.choice(zones)) + timedelta(minutes=rng.randrange(0, 48 * 60))
        event = make_event(rng.choice(["a", "b"]), stamp, task_id=f"t{i}")
        await metering_store.record(event)
        await theirs.record(event)
    for _ in range(30):
        start = at(0) + timedelta(minutes=rng.randrange(-600, 48 * 60))
        end = start + timedelta(minutes=rng.randrange(0, 12 * 60))
        limit = rng.choice([None, 5, 50])
        offset = rng.choice([0, 3])
        for agent in ("a", "b"):
            ours = await metering_store.query(agent, start, end, limit, offset)
            expected = await theirs.query(agent, start, end, limit, offset)
            # Equal instants may come in any order in asap; compare the ordered instants and
            # the set of events.
            assert [e.timestamp for e in ours] == [e.timestamp for e in expected]
            if limit is None and offset == 0:
                assert sorted(e.task_id for e in ours) == sorted(e.task_id for e in expected)


# --- aggregate -----------------------------------------------------------------------------


async def test_aggregate_totals(metering_store: Any) -> None:
    await metering_store.record(
        make_event("a", at(8), tokens_in=1, tokens_out=2, duration_ms=3, api_calls=4)
    )
    await metering_store.record(
        make_event("a", at(20), tokens_in=10, tokens_out=20, duration_ms=30, api_calls=40)
    )
    await metering_store.record(make_event("b", at(8), tokens_in=1000))
    total = await metering_store.aggregate("a", "day")
    assert type(total) is AsapUsageAggregate
    assert (total.agent_id, total.period) == ("a", "day")
    assert total.total_tokens == 33
    assert total.total_duration == 33
    assert total.total_tasks == 2
    assert total.total_api_calls == 44


async def test_aggregate_of_unknown_agent_is_zero(metering_store: Any) -> None:
    await metering_store.record(make_event("a", at(8)))
    total = await metering_store.aggregate("nobody", "hour")
    assert (total.agent_id, total.period) == ("nobody", "hour")
    assert (total.total_tokens, total.total_duration, total.total_tasks) == (0, 0, 0)
    assert total.total_api_calls == 0


async def test_aggregate_equals_asap_totals(metering_store: Any) -> None:
    rng = random.Random(7)
    theirs = AsapInMemoryMeteringStore()
    for i in range(300):
        event = make_event(
            rng.choice(["a", "b", "c"]),
            at(0) + timedelta(seconds=rng.randrange(0, 86400 * 3)),
            task_id=f"t{i % 17}",
            tokens_in=rng.randrange(0, 10**6),
            tokens_out=rng.randrange(0, 10**6),
            duration_ms=rng.randrange(0, 10**7),
            api_calls=rng.randrange(0, 50),
        )
        await metering_store.record(event)
        await theirs.record(event)
    for agent in ("a", "b", "c", "zzz"):
        for period in ("hour", "day", "month", ""):
            ours = await metering_store.aggregate(agent, period)
            expected = await theirs.aggregate(agent, period)
            assert ours.model_dump() == expected.model_dump()


async def test_aggregate_with_zero_metrics_counts_tasks(metering_store: Any) -> None:
    await metering_store.record(
        make_event("a", at(8), tokens_in=0, tokens_out=0, duration_ms=0, api_calls=0)
    )
    theirs = AsapInMemoryMeteringStore()
    await theirs.record(
        make_event("a", at(8), tokens_in=0, tokens_out=0, duration_ms=0, api_calls=0)
    )
    ours = await metering_store.aggregate("a", "day")
    assert ours.model_dump() == (await theirs.aggregate("a", "day")).model_dump()


async def test_large_counters_within_64_bits(metering_store: Any) -> None:
    big = 2**62
    await metering_store.record(make_event("a", at(8), tokens_in=big, tokens_out=1))
    (got,) = await metering_store.query("a", at(8), at(8))
    assert got.metrics.tokens_in == big
    assert (await metering_store.aggregate("a", "day")).total_tokens == big + 1


async def test_totals_beyond_64_bits_are_exact(metering_store: Any) -> None:
    # asap-protocol's SQL sums tokens_in + tokens_out as SQLite integers: past 2**63 the sum
    # turns into a float and the total comes back clamped (9223372036854775807). Ours is exact,
    # the same in every store, as Python's own sum would be.
    top = 2**63 - 1
    await metering_store.record(make_event("a", at(8), tokens_in=top, tokens_out=top))
    await metering_store.record(
        make_event("a", at(9), tokens_in=2**100, tokens_out=1, duration_ms=top, api_calls=top)
    )
    (first, second) = await metering_store.query("a", at(8), at(9))
    assert (first.metrics.tokens_in, first.metrics.tokens_out) == (top, top)
    assert second.metrics.tokens_in == 2**100
    total = await metering_store.aggregate("a", "day")
    assert total.total_tokens == 2 * top + 2**100 + 1
    assert total.total_duration == 30 + top
    assert total.total_api_calls == 1 + top
    assert total.total_tasks == 2
    assert metering_store.aggregate_sync("a", "day") == total


async def test_counters_beyond_127_bits_are_refused(metering_store: Any) -> None:
    with pytest.raises(ValueError, match="tokens_in does not fit in 127 bits"):
        await metering_store.record(make_event("a", at(8), tokens_in=2**127))
    assert await metering_store.query("a", at(0), at(23)) == []


async def test_totals_beyond_128_bits_are_an_error_not_a_wrong_number(
    metering_store: Any,
) -> None:
    for minute in range(2):
        await metering_store.record(make_event("a", at(8, minute), tokens_in=2**126))
    with pytest.raises(StoredDataError, match="exceed 128-bit"):
        await metering_store.aggregate("a", "day")
    assert len(await metering_store.query("a", at(8), at(9))) == 2  # still usable


# --- sync variants, protocol, models -------------------------------------------------------


def test_sync_variants_match(metering_store: Any) -> None:
    events = [make_event("a", at(8, m), task_id=f"t{m}", tokens_in=m) for m in range(5)]
    for event in events:
        metering_store.record_sync(event)
    got = metering_store.query_sync("a", at(8), at(9))
    assert len(got) == 5
    for mine, expected in zip(got, events, strict=True):
        assert_same_event(mine, expected)
    assert [e.task_id for e in metering_store.query_sync("a", at(8), at(9), 2, 1)] == ["t1", "t2"]
    total = metering_store.aggregate_sync("a", "day")
    assert total.total_tokens == sum(m + 20 for m in range(5))
    assert total.total_tasks == 5


async def test_async_and_sync_see_the_same_data(metering_store: Any) -> None:
    metering_store.record_sync(make_event("a", at(8), task_id="sync"))
    await metering_store.record(make_event("a", at(8, 1), task_id="async"))
    sync_view = [e.task_id for e in metering_store.query_sync("a", at(8), at(9))]
    async_view = [e.task_id for e in await metering_store.query("a", at(8), at(9))]
    assert sync_view == async_view == ["sync", "async"]
    sync_total = metering_store.aggregate_sync("a", "d").model_dump()
    assert sync_total == (await metering_store.aggregate("a", "d")).model_dump()


@pytest.mark.parametrize("kind", ["sqlite-file", "sqlite-memory", "memory"])
def test_metering_methods_are_awaitable(kind: str, db_path: Path) -> None:
    store = open_metering_store(kind, db_path)
    try:
        assert isinstance(store, AsyncMeteringStore)
        for name in ("record", "query", "aggregate"):
            assert inspect.iscoroutinefunction(getattr(store, name)), name
        for name in ("record_sync", "query_sync", "aggregate_sync"):
            assert not inspect.iscoroutinefunction(getattr(store, name)), name
    finally:
        store.close()


async def test_awaitable_calls_take_the_sync_calls_arguments(metering_store: Any) -> None:
    for name in ("record", "query", "aggregate"):
        twin, sync = getattr(metering_store, name), getattr(metering_store, f"{name}_sync")
        assert inspect.signature(twin) == inspect.signature(sync), name
        assert twin.__name__ == name
    await metering_store.record(event=make_event("a", at(8), task_id="by-keyword"))
    by_keyword = await metering_store.query(end=at(9), start=at(8), agent_id="a", limit=1)
    assert [e.task_id for e in by_keyword] == ["by-keyword"]
    for call in (
        lambda: metering_store.query("a", at(8)),
        lambda: metering_store.query("a", at(8), at(9), 1, 0, "extra"),
        lambda: metering_store.aggregate("a", period="d", when=1),
    ):
        with pytest.raises(TypeError):
            await call()


async def test_record_accepts_any_object_with_the_attributes(metering_store: Any) -> None:
    class Metrics:
        tokens_in = 5
        tokens_out = 6
        duration_ms = 7
        api_calls = 8

    class Duck:
        task_id = "duck_task"
        agent_id = "duck"
        consumer_id = "duck_consumer"
        metrics = Metrics()
        timestamp = at(8)

    await metering_store.record(Duck())
    (got,) = await metering_store.query("duck", at(8), at(8))
    assert (got.task_id, got.consumer_id, got.timestamp) == ("duck_task", "duck_consumer", at(8))
    assert (got.metrics.tokens_in, got.metrics.api_calls) == (5, 8)


async def test_record_accepts_metrics_dict_with_defaults(metering_store: Any) -> None:
    class Duck:
        task_id = "t"
        agent_id = "dict_metrics"
        consumer_id = "c"
        metrics: ClassVar[dict[str, int]] = {"tokens_in": 3}
        timestamp = at(8)

    await metering_store.record(Duck())
    (got,) = await metering_store.query("dict_metrics", at(8), at(8))
    assert (got.metrics.tokens_in, got.metrics.tokens_out, got.metrics.api_calls) == (3, 0, 0)


async def test_duplicate_events_are_all_kept(metering_store: Any) -> None:
    event = make_event("a", at(8))
    for _ in range(3):
        await metering_store.record(event)
    assert len(await metering_store.query("a", at(8), at(8))) == 3
    assert (await metering_store.aggregate("a", "day")).total_tasks == 3


# --- persistence and close -------------------------------------------------------------------


async def test_events_persist_across_reopen(db_path: Path) -> None:
    with SQLiteMeteringStore(db_path) as store:
        await store.record(make_event("a", at(10, 30, PLUS2), task_id="one"))
        await store.record(make_event("a", at(8, 45), task_id="two"))
    with SQLiteMeteringStore(db_path) as store:
        got = await store.query("a", at(8), at(9))
        assert [e.task_id for e in got] == ["one", "two"]
        assert (await store.aggregate("a", "day")).total_tasks == 2


async def test_memory_databases_are_separate() -> None:
    with SQLiteMeteringStore(":memory:") as one, SQLiteMeteringStore(":memory:") as two:
        await one.record(make_event("a", at(8)))
        assert await two.query("a", at(0), at(23)) == []
        assert len(await one.query("a", at(0), at(23))) == 1


@pytest.mark.parametrize("kind", ["sqlite-file", "sqlite-memory"])
async def test_calls_after_close_raise_store_closed(kind: str, db_path: Path) -> None:
    store = open_metering_store(kind, db_path)
    await store.record(make_event("a", at(8)))
    store.close()
    assert store.closed is True
    with pytest.raises(StoreClosedError):
        await store.record(make_event("a", at(8)))
    with pytest.raises(StoreClosedError):
        await store.query("a", at(8), at(9))
    with pytest.raises(StoreClosedError):
        await store.aggregate("a", "day")
    with pytest.raises(StoreClosedError):
        store.record_sync(make_event("a", at(8)))
    with pytest.raises(StoreClosedError):
        store.query_sync("a", at(8), at(9))
    with pytest.raises(StoreClosedError):
        store.aggregate_sync("a", "day")
    store.close()


async def test_context_manager_closes(db_path: Path) -> None:
    with SQLiteMeteringStore(db_path) as store:
        await store.record(make_event("a", at(8)))
    assert store.closed
    with pytest.raises(StoreClosedError):
        await store.query("a", at(8), at(9))


def test_repr() -> None:
    assert repr(InMemoryMeteringStore()) == "InMemoryMeteringStore()"
    with SQLiteMeteringStore(":memory:") as store:
        assert "':memory:'" in repr(store)
