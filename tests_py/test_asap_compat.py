"""Database-file compatibility with asap-protocol's own SQLite stores, in both directions."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from asap.models.entities import StateSnapshot
from asap.state.metering import UsageAggregate, UsageEvent
from asap.state.stores.sqlite import SQLiteMeteringStore as AsapSQLiteMeteringStore
from asap.state.stores.sqlite import SQLiteSnapshotStore as AsapSQLiteSnapshotStore
from conftest import assert_same_event, assert_same_snapshot, make_event, make_snapshot, sqlite_rows

from asap_native import SQLiteMeteringStore, SQLiteSnapshotStore

UTC = timezone.utc
T0 = datetime(2024, 5, 17, 8, 0, tzinfo=UTC)


def sample_snapshots() -> list[StateSnapshot]:
    """Snapshots exercising every field and the awkward corners of JSON."""
    return [
        make_snapshot("task_a", 1, {"status": "submitted"}, created_at=T0),
        make_snapshot(
            "task_a",
            2,
            {
                "zeta": [1, 2.5, -3, True, None, "x"],
                "alpha": {"nested": {"deep": [{"b": 1, "a": 2}]}},
                "unicode": '日本語 🦀 \u2028 \x00 "quoted" \\',
                "floats": [0.1, 1e-300, 1e16, -0.0, 2.0**63],
                "ints": [2**63 - 1, -(2**63)],
                "empty": {},
            },
            checkpoint=True,
            created_at=datetime(
                2024, 5, 17, 10, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2))
            ),
        ),
        make_snapshot("task_a", 10, {"v": 10}, created_at=datetime(2024, 5, 18, 1, 2, 3)),
        make_snapshot("task_b", 3, {"other": "task"}, created_at=T0 + timedelta(days=1)),
    ]


def normalized_schema(path: Path) -> list[tuple[str, str, str]]:
    rows = sqlite_rows(
        path,
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    return [(kind, name, re.sub(r"\s+", " ", sql or "").strip()) for kind, name, sql in rows]


def raw_snapshot_rows(path: Path) -> list[tuple[Any, ...]]:
    rows = sqlite_rows(
        path,
        "SELECT task_id, id, version, data, checkpoint, created_at FROM snapshots "
        "ORDER BY task_id, version",
    )
    return [(t, i, v, json.loads(d), c, ts) for t, i, v, d, c, ts in rows]


# --- schema -----------------------------------------------------------------------------------


async def test_schema_is_identical_to_asap(tmp_path: Path) -> None:
    theirs_path, ours_path = tmp_path / "theirs.db", tmp_path / "ours.db"
    await AsapSQLiteSnapshotStore(theirs_path).initialize()
    await AsapSQLiteMeteringStore(theirs_path).initialize()
    SQLiteSnapshotStore(ours_path).close()
    SQLiteMeteringStore(ours_path).close()
    ours = normalized_schema(ours_path)
    assert ours == normalized_schema(theirs_path)
    names = [name for _, name, _ in ours]
    assert names == sorted(
        ["idx_usage_agent_timestamp", "idx_usage_consumer_timestamp", "snapshots", "usage_events"]
    )
    # With the instant index (opt-in): asap-protocol's objects byte for byte, plus that one
    # index, built from SQLite's own functions only (asap keeps inserting: test_metering_scale).
    SQLiteMeteringStore(ours_path, instant_index=True).close()
    indexed = normalized_schema(ours_path)
    assert [row for row in indexed if row[1] != "asap_native_usage_instant"] == ours
    assert [name for _, name, _ in indexed] == sorted([*names, "asap_native_usage_instant"])


# --- snapshots --------------------------------------------------------------------------------


@pytest.mark.same_sqlite_in_process
def test_asap_writes_snapshots_we_read(db_path: Path) -> None:
    theirs = AsapSQLiteSnapshotStore(db_path)
    snaps = sample_snapshots()
    for snap in snaps:
        theirs.save(snap)
    with SQLiteSnapshotStore(db_path) as ours:
        for snap in snaps:
            assert_same_snapshot(ours.get(snap.task_id, snap.version), snap)
        assert_same_snapshot(ours.get("task_a"), snaps[2])
        assert ours.list_versions("task_a") == theirs.list_versions("task_a") == [1, 2, 10]
        assert ours.list_versions("task_b") == [3]
        # And the other operations on asap's rows.
        assert ours.delete("task_a", 10) is True
        assert theirs.list_versions("task_a") == [1, 2]
        assert ours.delete("task_b") is True
        assert theirs.get("task_b") is None


def test_we_write_snapshots_asap_reads(db_path: Path) -> None:
    snaps = sample_snapshots()
    with SQLiteSnapshotStore(db_path) as ours:
        for snap in snaps:
            ours.save(snap)
    theirs = AsapSQLiteSnapshotStore(db_path)
    for snap in snaps:
        got = theirs.get(snap.task_id, snap.version)
        assert_same_snapshot(got, snap)
        assert isinstance(got, StateSnapshot)
    assert_same_snapshot(theirs.get("task_a"), snaps[2])
    assert theirs.list_versions("task_a") == [1, 2, 10]
    assert theirs.delete("task_a", 1) is True
    with SQLiteSnapshotStore(db_path) as ours:
        assert ours.list_versions("task_a") == [2, 10]


def test_rows_match_asap_rows_field_for_field(tmp_path: Path) -> None:
    theirs_path, ours_path = tmp_path / "theirs.db", tmp_path / "ours.db"
    theirs = AsapSQLiteSnapshotStore(theirs_path)
    with SQLiteSnapshotStore(ours_path) as ours:
        for snap in sample_snapshots():
            theirs.save(snap)
            ours.save(snap)
    assert raw_snapshot_rows(ours_path) == raw_snapshot_rows(theirs_path)


def test_values_only_asap_writes_are_read(db_path: Path) -> None:
    # asap writes with json.dumps: NaN/Infinity, integers beyond 64 bits, \\u escapes with
    # surrogate pairs. Ours must read all of them back as asap would.
    data = {
        "nan": math.nan,
        "inf": math.inf,
        "ninf": -math.inf,
        "huge": 2**100,
        "negative_huge": -(2**80),
        "astral": "🦀𝄞",
        "escaped": "\x01\u2028",
    }
    theirs = AsapSQLiteSnapshotStore(db_path)
    theirs.save(make_snapshot("task_a", 1, data))
    with SQLiteSnapshotStore(db_path) as ours:
        got = ours.get("task_a").data
    expected = theirs.get("task_a").data
    assert math.isnan(got["nan"]) and math.isnan(expected["nan"])
    assert got["inf"] == math.inf and got["ninf"] == -math.inf
    assert got["huge"] == 2**100 and type(got["huge"]) is int
    assert got["negative_huge"] == -(2**80)
    assert got["astral"] == "🦀𝄞" and got["escaped"] == "\x01\u2028"
    assert list(got) == list(expected)


@pytest.mark.same_sqlite_in_process
def test_replace_across_implementations(db_path: Path) -> None:
    theirs = AsapSQLiteSnapshotStore(db_path)
    with SQLiteSnapshotStore(db_path) as ours:
        ours.save(make_snapshot("task_a", 1, {"by": "ours"}))
        theirs.save(make_snapshot("task_a", 1, {"by": "theirs"}))
        assert ours.get("task_a").data == {"by": "theirs"}
        ours.save(make_snapshot("task_a", 1, {"by": "ours again"}))
        assert theirs.get("task_a").data == {"by": "ours again"}
        assert ours.list_versions("task_a") == theirs.list_versions("task_a") == [1]


@pytest.mark.same_sqlite_in_process
async def test_interleaved_writers_on_one_file(db_path: Path) -> None:
    # Both open at once: every write of one is seen by the next read of the other.
    theirs = AsapSQLiteSnapshotStore(db_path)
    with SQLiteSnapshotStore(db_path) as ours:
        for version in range(1, 21):
            mine = make_snapshot("task_x", 2 * version - 1, {"by": "ours", "v": version})
            other = make_snapshot("task_x", 2 * version, {"by": "theirs", "v": version})
            ours.save(mine)
            assert_same_snapshot(await theirs.get_async("task_x"), mine)
            await theirs.save_async(other)
            assert_same_snapshot(ours.get("task_x"), other)
        assert ours.list_versions("task_x") == await theirs.list_versions_async("task_x")
        assert await theirs.delete_async("task_x", 40) is True
        assert ours.get("task_x").version == 39
        assert ours.delete("task_x") is True
        assert await theirs.list_versions_async("task_x") == []


def test_rows_written_by_other_tools(db_path: Path) -> None:
    # 'Z' suffixes and spaced JSON, as a hand-written or older tool might store them.
    SQLiteSnapshotStore(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(
        "INSERT INTO snapshots VALUES ('task_z', 'snap_z', 1, ?, 1, '2024-05-17T08:00:00Z')",
        ('{ "b" : [ 1 , 2 ] , "a" : { } }',),
    )
    conn.commit()
    conn.close()
    with SQLiteSnapshotStore(db_path) as ours:
        got = ours.get("task_z")
    assert got.created_at == T0 and got.checkpoint is True
    assert got.data == {"b": [1, 2], "a": {}} and list(got.data) == ["b", "a"]


# --- metering ---------------------------------------------------------------------------------


def sample_events() -> list[UsageEvent]:
    return [
        make_event(
            f"agent_{i % 2}",
            T0 + timedelta(minutes=7 * i, microseconds=i),
            task_id=f"task_{i}",
            consumer_id=f"consumer_{i % 3}",
            tokens_in=i * 3,
            tokens_out=i * 5,
            duration_ms=i * 11,
            api_calls=i % 4,
        )
        for i in range(20)
    ]


async def test_asap_records_events_we_read(db_path: Path) -> None:
    theirs = AsapSQLiteMeteringStore(db_path)
    events = sample_events()
    for event in events:
        await theirs.record(event)
    with SQLiteMeteringStore(db_path) as ours:
        for agent in ("agent_0", "agent_1"):
            expected = [e for e in events if e.agent_id == agent]
            got = await ours.query(agent, T0, T0 + timedelta(days=1))
            assert len(got) == len(expected)
            for mine, original in zip(got, expected, strict=True):
                assert_same_event(mine, original)
            their_view = await theirs.query(agent, T0, T0 + timedelta(days=1))
            assert [e.model_dump() for e in got] == [e.model_dump() for e in their_view]
            window = (T0 + timedelta(minutes=30), T0 + timedelta(minutes=90))
            for limit, offset in ((None, 0), (3, 0), (3, 2), (None, 4), (0, 0)):
                mine_page = await ours.query(agent, *window, limit, offset)
                their_page = await theirs.query(agent, *window, limit, offset)
                assert [e.model_dump() for e in mine_page] == [
                    e.model_dump() for e in their_page
                ], (limit, offset)
            for period in ("hour", "day"):
                mine_total = await ours.aggregate(agent, period)
                assert (
                    mine_total.model_dump() == (await theirs.aggregate(agent, period)).model_dump()
                )


async def test_counters_beyond_64_bits_are_shared_both_ways(db_path: Path) -> None:
    theirs = AsapSQLiteMeteringStore(db_path)
    huge = make_event("agent", T0, tokens_in=2**100, tokens_out=2**64, duration_ms=1, api_calls=2)
    await theirs.record(huge)
    with SQLiteMeteringStore(db_path) as ours:
        await ours.record(make_event("agent", T0, tokens_in=2**90))
        mine = await ours.query("agent", T0, T0)
        their_view = await theirs.query("agent", T0, T0)
        assert [e.model_dump() for e in mine] == [e.model_dump() for e in their_view]
        assert mine[0].metrics.tokens_in == 2**100
        # asap-protocol's SQL sums through SQLite integers, which turn into floats past 2**63
        # (here pydantic then refuses the float); ours stays exact.
        assert (await ours.aggregate("agent", "day")).total_tokens == 2**100 + 2**64 + 2**90 + 20
        with pytest.raises(ValueError, match="total_tokens"):
            await theirs.aggregate("agent", "day")


async def test_we_record_events_asap_reads(db_path: Path) -> None:
    events = sample_events()
    with SQLiteMeteringStore(db_path) as ours:
        for event in events:
            await ours.record(event)
    theirs = AsapSQLiteMeteringStore(db_path)
    for agent in ("agent_0", "agent_1"):
        expected = [e for e in events if e.agent_id == agent]
        got = await theirs.query(agent, T0, T0 + timedelta(days=1))
        assert len(got) == len(expected)
        for their_event, original in zip(got, expected, strict=True):
            assert isinstance(their_event, UsageEvent)
            assert_same_event(their_event, original)
        total = await theirs.aggregate(agent, "day")
        assert isinstance(total, UsageAggregate)
        assert total.total_tasks == len(expected)
        assert total.total_tokens == sum(
            e.metrics.tokens_in + e.metrics.tokens_out for e in expected
        )
        assert total.total_duration == sum(e.metrics.duration_ms for e in expected)
        assert total.total_api_calls == sum(e.metrics.api_calls for e in expected)


async def test_event_rows_match_asap_rows(tmp_path: Path) -> None:
    theirs_path, ours_path = tmp_path / "theirs.db", tmp_path / "ours.db"
    theirs = AsapSQLiteMeteringStore(theirs_path)
    with SQLiteMeteringStore(ours_path) as ours:
        for event in sample_events():
            await theirs.record(event)
            await ours.record(event)

    ours_rows, their_rows = (
        sqlite_rows(
            path,
            "SELECT id, task_id, agent_id, consumer_id, metrics, timestamp FROM usage_events "
            "ORDER BY rowid",
        )
        for path in (ours_path, theirs_path)
    )
    assert len(ours_rows) == len(their_rows) == 20
    for mine, other in zip(ours_rows, their_rows, strict=True):
        assert mine[1:4] == other[1:4]
        assert json.loads(mine[4]) == json.loads(other[4])
        assert mine[5] == other[5]
        # Event ids look like asap's: "evt_" and a 26-character ULID.
        assert re.fullmatch(r"evt_[0-9A-HJKMNP-TV-Z]{26}", mine[0]), mine[0]
        assert re.fullmatch(r"evt_[0-9A-HJKMNP-TV-Z]{26}", other[0]), other[0]
    assert len({row[0] for row in ours_rows}) == 20


@pytest.mark.same_sqlite_in_process
async def test_metering_and_snapshots_share_a_file_with_asap(db_path: Path) -> None:
    their_meter = AsapSQLiteMeteringStore(db_path)
    their_snaps = AsapSQLiteSnapshotStore(db_path)
    with SQLiteSnapshotStore(db_path) as our_snaps, SQLiteMeteringStore(db_path) as our_meter:
        await their_meter.record(make_event("shared", T0, task_id="theirs"))
        await our_meter.record(make_event("shared", T0 + timedelta(minutes=1), task_id="ours"))
        await their_snaps.save_async(make_snapshot("task_s", 1))
        our_snaps.save(make_snapshot("task_s", 2))
        window = (T0, T0 + timedelta(hours=1))
        assert [e.task_id for e in await our_meter.query("shared", *window)] == ["theirs", "ours"]
        assert [e.task_id for e in await their_meter.query("shared", *window)] == ["theirs", "ours"]
        assert our_snaps.list_versions("task_s") == await their_snaps.list_versions_async("task_s")


@pytest.mark.parametrize("offset_hours", [2, -5])
async def test_offset_timestamps_written_by_asap_are_compared_as_instants(
    db_path: Path, offset_hours: int
) -> None:
    # asap compares text; we compare instants. An event asap stored with an offset is still
    # found by ours in the UTC window that contains its instant.
    zone = timezone(timedelta(hours=offset_hours))
    theirs = AsapSQLiteMeteringStore(db_path)
    await theirs.record(make_event("zoned", (T0 + timedelta(minutes=30)).astimezone(zone)))
    with SQLiteMeteringStore(db_path) as ours:
        got = await ours.query("zoned", T0, T0 + timedelta(hours=1))
        assert len(got) == 1
        assert got[0].timestamp == T0 + timedelta(minutes=30)
        assert got[0].timestamp.utcoffset() == timedelta(hours=offset_hours)
