"""asap_native.transfer: snapshots and usage events from a SQLite file to PostgreSQL and back,
including rows asap-protocol wrote and rows no store would write (NaN, duplicate keys)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _postgres import PgSchema, needs_postgres_build
from conftest import BASE_TIME, assert_same_event, assert_same_snapshot, make_event, make_snapshot

import asap_native
from asap_native.errors import StoredDataError
from asap_native.transfer import (
    TransferCounts,
    copy_postgres_to_sqlite,
    copy_sqlite_to_postgres,
    main,
)

pytestmark = needs_postgres_build

SNAPSHOTS = [
    make_snapshot("a", 1, {"z": 1, "a": [1, 2.5, None]}),
    make_snapshot("a", 2, {"text": "nul \x00 inside", "é": "✓"}, checkpoint=True),
    make_snapshot("b", 7, {}, created_at=BASE_TIME.astimezone(BASE_TIME.tzinfo)),
]
EVENTS = [make_event("agent", BASE_TIME + timedelta(seconds=i), tokens_in=i) for i in range(5)]
EVENTS.append(make_event("agent", BASE_TIME, tokens_in=2**80, task_id="huge"))


def _fill_sqlite(path: Path) -> None:
    with asap_native.SQLiteSnapshotStore(path) as snapshots:
        for snapshot in SNAPSHOTS:
            snapshots.save(snapshot)
    with asap_native.SQLiteMeteringStore(path) as metering:
        for event in EVENTS:
            metering.record_sync(event)


def _raw(path: Path, sql: str, *args: Any) -> list[Any]:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute(sql, args).fetchall()


def _check_all(snapshot_store: Any, metering_store: Any) -> None:
    for snapshot in SNAPSHOTS:
        assert_same_snapshot(snapshot_store.get(snapshot.task_id, snapshot.version), snapshot)
    got = metering_store.query_sync("agent", BASE_TIME, BASE_TIME + timedelta(hours=1))
    assert len(got) == len(EVENTS)
    # Same order as recorded for equal timestamps (the huge one was recorded last).
    assert [e.task_id for e in got][:2] == ["task_1", "huge"]


def test_round_trip_sqlite_postgres_sqlite(pg: PgSchema, tmp_path: Path) -> None:
    source, back = tmp_path / "source.db", tmp_path / "back.db"
    _fill_sqlite(source)
    assert copy_sqlite_to_postgres(source, pg.dsn) == TransferCounts(3, 6)
    with (
        asap_native.PostgresSnapshotStore(pg.dsn) as s,
        asap_native.PostgresMeteringStore(pg.dsn) as m,
    ):
        _check_all(s, m)
    ids = [row[0] for row in _raw(source, "SELECT id FROM usage_events ORDER BY rowid")]
    assert pg.sql("SELECT id FROM usage_events ORDER BY seq").split() == ids

    assert copy_postgres_to_sqlite(pg.dsn, back) == TransferCounts(3, 6)
    assert back.stat().st_mode & 0o777 == 0o600
    with asap_native.SQLiteSnapshotStore(back) as s, asap_native.SQLiteMeteringStore(back) as m:
        _check_all(s, m)
    # Snapshot text byte for byte, event ids and timestamps as they were.
    query = "SELECT task_id, id, version, data, checkpoint, created_at FROM snapshots ORDER BY 1, 3"
    assert _raw(back, query) == _raw(source, query)
    query = "SELECT id, task_id, agent_id, consumer_id, timestamp FROM usage_events ORDER BY id"
    assert _raw(back, query) == _raw(source, query)


def test_copies_can_be_run_again(pg: PgSchema, tmp_path: Path) -> None:
    source = tmp_path / "source.db"
    _fill_sqlite(source)
    copy_sqlite_to_postgres(source, pg.dsn)
    copy_sqlite_to_postgres(source, pg.dsn)  # snapshots replaced, events skipped
    assert pg.sql("SELECT count(*) FROM snapshots") == "3"
    assert pg.sql("SELECT count(*) FROM usage_events") == "6"
    back = tmp_path / "back.db"
    copy_postgres_to_sqlite(pg.dsn, back)
    copy_postgres_to_sqlite(pg.dsn, back)
    assert _raw(back, "SELECT count(*) FROM usage_events") == [(6,)]


def test_rows_asap_protocol_wrote_and_rows_jsonb_cannot_hold(pg: PgSchema, tmp_path: Path) -> None:
    from asap.state.stores.sqlite import SQLiteSnapshotStore as AsapStore

    source = tmp_path / "asap.db"
    AsapStore(source).save(make_snapshot("asap", 1, {"b": 1, "a": "x"}))
    with contextlib.closing(sqlite3.connect(source)) as conn, conn:
        # What other programs leave behind: NaN (json.dumps writes it), duplicate keys.
        for version, text in [(2, '{"v": NaN, "i": Infinity}'), (3, '{"k": 1, "k": 2}')]:
            conn.execute(
                "INSERT INTO snapshots VALUES ('asap', ?, ?, ?, 0, ?)",
                (f"raw{version}", version, text, BASE_TIME.isoformat()),
            )
    copy_sqlite_to_postgres(source, pg.dsn)
    assert pg.sql("SELECT version, data IS NULL FROM snapshots ORDER BY version").split() == [
        "1|f",
        "2|t",
        "3|f",
    ]
    assert pg.sql("SELECT data::text FROM snapshots WHERE version = 3") == '{"k": 2}'
    with (
        asap_native.PostgresSnapshotStore(pg.dsn) as ours,
        asap_native.SQLiteSnapshotStore(source) as theirs,
    ):
        for version in (1, 2, 3):
            got, expected = ours.get("asap", version), theirs.get("asap", version)
            assert str(got.data) == str(expected.data)  # NaN != NaN: compare the text
            assert list(got.data) == list(expected.data)


def test_a_row_postgresql_cannot_take_stops_the_copy_and_is_named(
    pg: PgSchema, tmp_path: Path
) -> None:
    source = tmp_path / "bad.db"
    _fill_sqlite(source)
    with contextlib.closing(sqlite3.connect(source)) as conn, conn:
        conn.execute("INSERT INTO snapshots VALUES ('broken', 'x', 4, '{}', 0, 'last tuesday')")
    with pytest.raises(StoredDataError, match=r"task 'broken' version 4.*not ISO-8601"):
        copy_sqlite_to_postgres(source, pg.dsn)
    assert pg.sql("SELECT count(*) FROM snapshots") == "0"  # all or nothing
    assert pg.sql("SELECT count(*) FROM usage_events") == "0"


def test_missing_sqlite_file(pg: PgSchema, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        copy_sqlite_to_postgres(tmp_path / "nope.db", pg.dsn)


def test_command_line(pg: PgSchema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, back = tmp_path / "cli.db", tmp_path / "cli-back.db"
    _fill_sqlite(source)
    monkeypatch.setenv("ASAP_STORAGE_URL", pg.url())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["to-postgres", str(source)]) == 0
        assert main(["to-sqlite", str(back)]) == 0
    text = out.getvalue()
    assert "copied 3 snapshots and 6 usage events" in text
    assert "asap-test-password" not in text

    async def check() -> None:
        async with asap_native.SQLiteMeteringStore(back) as m:
            got = await m.query("agent", BASE_TIME, BASE_TIME + timedelta(hours=1))
            assert_same_event(got[-1], EVENTS[-2])

    asyncio.run(check())
