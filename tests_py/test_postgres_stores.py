"""PostgreSQL stores: the same read-back as the SQLite stores, what jsonb and timestamptz hold,
the schema, the factories and install().

(The generic store tests also run on PostgreSQL: conftest's "postgres" kind.)
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from _postgres import PgSchema, needs_postgres_build
from conftest import BASE_TIME, assert_same_event, assert_same_snapshot, make_event, make_snapshot

import asap_native
from asap_native.errors import StoreClosedError

pytestmark = needs_postgres_build

# Values whose JSON text jsonb would rewrite: read back exactly as the SQLite store does.
DATA_CASES: dict[str, dict[str, Any]] = {
    "key order": {"z": 1, "a": 2, "mm": {"b": 1, "a": 2}, "": 0},
    "unicode": {"é": "ünïcödé ✓ 😀", "rtl": "שלום", "nul-free": "a\tb\nc"},
    "nul in a string": {"text": "before\x00after", "list": ["\x00"]},
    "controls": {"c": "".join(chr(i) for i in range(1, 32))},
    "floats": {"f": 0.1, "big": 1e300, "small": 5e-324, "neg": -0.0, "int_like": 2.0},
    "integers": {"max": 2**63 - 1, "min": -(2**63), "zero": 0},
    "nesting": {"a": [[[[{"b": [1, {"c": None}]}]]]], "t": True, "f": False},
    "empty": {},
    "long text": {"s": "x" * 200_000},
}


def _both(pg: PgSchema, tmp_path: Path) -> tuple[Any, Any]:
    return asap_native.PostgresSnapshotStore(pg.dsn), asap_native.SQLiteSnapshotStore(
        tmp_path / "same.db"
    )


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_data_reads_back_as_from_sqlite(pg: PgSchema, tmp_path: Path, case: str) -> None:
    postgres, sqlite = _both(pg, tmp_path)
    with postgres, sqlite:
        snapshot = make_snapshot("t", 1, DATA_CASES[case])
        postgres.save(snapshot)
        sqlite.save(snapshot)
        from_pg, from_sqlite = postgres.get("t"), sqlite.get("t")
        assert_same_snapshot(from_pg, from_sqlite)
        assert_same_snapshot(from_pg, snapshot)
        assert json.dumps(from_pg.data) == json.dumps(from_sqlite.data)  # order, spelling


def test_jsonb_column_holds_the_data_and_text_keeps_the_original(pg: PgSchema) -> None:
    with asap_native.PostgresSnapshotStore(pg.dsn) as store:
        store.save(make_snapshot("t", 1, {"zz": 1, "a": [1.50, 2], "a2": "x"}))
        store.save(make_snapshot("t", 2, {"text": "a\x00b"}))
        row = pg.sql("SELECT data::text, data_text FROM snapshots WHERE version = 1")
        jsonb_text, original = row.split("|")
        assert jsonb_text == '{"a": [1.5, 2], "a2": "x", "zz": 1}'  # jsonb's own order
        assert original == '{"zz":1,"a":[1.5,2],"a2":"x"}'
        # jsonb cannot hold \u0000: data is NULL, data_text keeps it, get() returns it.
        assert pg.sql("SELECT data IS NULL FROM snapshots WHERE version = 2") == "t"
        assert pg.sql("SELECT data_text FROM snapshots WHERE version = 2") == '{"text":"a\\u0000b"}'
        assert store.get("t", 2).data == {"text": "a\x00b"}
        # SQL on the jsonb column works.
        assert pg.sql("SELECT data->'a'->>0 FROM snapshots WHERE version = 1") == "1.5"


# What json.dumps writes and asap-protocol stores, beyond strict JSON or 64 bits: the text keeps
# it (read back as from SQLite); the jsonb copy holds big integers and is NULL for NaN/Infinity.
@pytest.mark.parametrize(
    ("value", "jsonb"),
    [
        (math.nan, None),
        (math.inf, None),
        (-math.inf, None),
        (2**64, str(2**64)),
        (-(2**200), str(-(2**200))),
    ],
)
def test_values_beyond_strict_json_read_back_as_from_sqlite(
    pg: PgSchema, tmp_path: Path, value: Any, jsonb: str | None
) -> None:
    postgres, sqlite = _both(pg, tmp_path)
    with postgres, sqlite:
        snapshot = make_snapshot("t", 1)
        object.__setattr__(snapshot, "data", {"v": value})
        postgres.save(snapshot)
        sqlite.save(snapshot)
        got, expected = postgres.get("t"), sqlite.get("t")
        assert json.dumps(got.data) == json.dumps(expected.data) == json.dumps({"v": value})
        stored = pg.sql("SELECT coalesce(data->>'v', 'NULL') FROM snapshots")
        assert stored == ("NULL" if jsonb is None else jsonb)


def test_data_json_cannot_hold_is_refused_as_by_sqlite(pg: PgSchema, tmp_path: Path) -> None:
    postgres, sqlite = _both(pg, tmp_path)
    with postgres, sqlite:
        for store in (postgres, sqlite):
            snapshot = make_snapshot("t", 1)
            object.__setattr__(snapshot, "data", {"v": {1: 2}})
            with pytest.raises(TypeError) as raised:
                store.save(snapshot)
            assert "data['v']" in str(raised.value)
        assert postgres.list_versions("t") == []


@pytest.mark.parametrize(
    "created_at",
    [
        datetime(2024, 5, 1, 10, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        datetime(2024, 5, 1, 10, 30, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
        datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc),
        datetime(2024, 5, 1, 10, 30),  # naive
        datetime(1, 1, 1, tzinfo=timezone.utc),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
    ],
)
def test_created_at_comes_back_as_saved_and_is_an_instant(
    pg: PgSchema, tmp_path: Path, created_at: datetime
) -> None:
    postgres, sqlite = _both(pg, tmp_path)
    with postgres, sqlite:
        snapshot = make_snapshot("t", 1, created_at=created_at)
        postgres.save(snapshot)
        sqlite.save(snapshot)
        got = postgres.get("t")
        assert_same_snapshot(got, sqlite.get("t"))
        assert got.created_at.utcoffset() == created_at.utcoffset()
        aware = created_at if created_at.tzinfo else created_at.replace(tzinfo=timezone.utc)
        seconds = pg.sql("SELECT extract(epoch FROM created_at) FROM snapshots")
        assert abs(float(seconds) - aware.timestamp()) < 1e-3


def test_crud_sync_and_awaitable(pg: PgSchema) -> None:
    async def main() -> None:
        sync_store = asap_native.PostgresSnapshotStore(pg.dsn)
        async_store = asap_native.PostgresAsyncSnapshotStore(pg.dsn)
        async with sync_store, async_store:
            first = make_snapshot("task", 1, {"n": 1})
            second = make_snapshot("task", 2, {"n": 2}, checkpoint=True)
            sync_store.save(first)
            await async_store.save(second)
            assert_same_snapshot(await async_store.get("task"), second)
            assert_same_snapshot(await sync_store.get_async("task", 1), first)
            assert sync_store.list_versions("task") == [1, 2]
            assert await async_store.list_versions("task") == [1, 2]
            assert await async_store.delete("task", 2) is True
            assert await sync_store.delete_async("task", 2) is False
            assert sync_store.delete("task") is True
            assert await async_store.get("task") is None
            assert sync_store.get("task", 1) is None

    asyncio.run(main())


def test_concurrent_awaited_writes_share_transactions_and_all_commit(pg: PgSchema) -> None:
    async def main() -> None:
        async with asap_native.PostgresAsyncSnapshotStore(pg.dsn) as store:
            snapshots = [make_snapshot(f"t{i % 16}", i + 1, {"i": i}) for i in range(400)]
            await asyncio.gather(*(store.save(s) for s in snapshots))
            stats = store.stats()
            assert stats["group_commit"]["writes"] == 400
            assert stats["group_commit"]["batches"] < 400
            got = await asyncio.gather(*(store.get(s.task_id, s.version) for s in snapshots))
            for g, s in zip(got, snapshots, strict=True):
                assert_same_snapshot(g, s)

    asyncio.run(main())
    assert pg.sql("SELECT count(*) FROM snapshots") == "400"


def test_a_failing_write_fails_only_its_own_await(pg: PgSchema) -> None:
    async def main() -> None:
        async with asap_native.PostgresAsyncSnapshotStore(pg.dsn) as store:
            good = [make_snapshot(f"ok{i}", 1) for i in range(30)]
            bad = make_snapshot("bad\x00id", 1)  # PostgreSQL text cannot hold NUL
            results = await asyncio.gather(
                *(store.save(s) for s in good[:15]),
                store.save(bad),
                *(store.save(s) for s in good[15:]),
                return_exceptions=True,
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            assert len(errors) == 1 and isinstance(errors[0], ValueError)
            assert "NUL" in str(errors[0])
            for s in good:
                assert (await store.get(s.task_id)) is not None

    asyncio.run(main())


def test_metering_reads_back_as_from_sqlite(pg: PgSchema, tmp_path: Path) -> None:
    plus2 = timezone(timedelta(hours=2))
    events = [
        make_event("agent", BASE_TIME + timedelta(minutes=5), tokens_in=2**70, tokens_out=1),
        make_event("agent", datetime(2024, 5, 17, 10, 30, tzinfo=plus2), task_id="offset"),
        make_event("agent", BASE_TIME.replace(tzinfo=None) + timedelta(minutes=1), task_id="naive"),
        make_event("agent", BASE_TIME + timedelta(minutes=5), task_id="tie"),
        make_event("other", BASE_TIME),
        make_event("agent", BASE_TIME - timedelta(days=1), task_id="before"),
    ]

    async def main() -> None:
        postgres = asap_native.PostgresMeteringStore(pg.dsn)
        sqlite = asap_native.SQLiteMeteringStore(tmp_path / "m.db")
        async with postgres, sqlite:
            for event in events:
                await postgres.record(event)
                sqlite.record_sync(event)
            start, end = BASE_TIME, BASE_TIME + timedelta(hours=1)
            for limit, offset in [(None, 0), (2, 0), (2, 1), (0, 0), (None, 10)]:
                ours = await postgres.query("agent", start, end, limit, offset)
                theirs = sqlite.query_sync("agent", start, end, limit, offset)
                assert [e.task_id for e in ours] == [e.task_id for e in theirs]
                for a, b in zip(ours, theirs, strict=True):
                    assert_same_event(a, b)
            naive_window = postgres.query_sync(
                "agent", start.replace(tzinfo=None), end.replace(tzinfo=None)
            )
            assert [e.task_id for e in naive_window] == ["naive", "task_1", "tie", "offset"]
            for agent in ("agent", "other", "nobody"):
                ours_total = await postgres.aggregate(agent, "day")
                theirs_total = sqlite.aggregate_sync(agent, "day")
                assert ours_total == theirs_total
            assert (await postgres.aggregate("agent", "day")).total_tokens > 2**70

    asyncio.run(main())


def test_metering_windows_use_timestamptz(pg: PgSchema) -> None:
    with asap_native.PostgresMeteringStore(pg.dsn) as store:
        store.record_sync(make_event("a", datetime(2024, 1, 1, 12, tzinfo=timezone.utc)))
        assert pg.sql('SELECT pg_typeof("timestamp") FROM usage_events') == (
            "timestamp with time zone"
        )
        plan = pg.sql(
            "EXPLAIN SELECT * FROM usage_events WHERE agent_id = 'a' AND \"timestamp\" "
            'BETWEEN now() AND now() ORDER BY "timestamp", seq'
        )
        assert "usage_events_agent_time" in plan


def test_schema_is_versioned(pg: PgSchema) -> None:
    asap_native.PostgresSnapshotStore(pg.dsn).close()
    asap_native.PostgresMeteringStore(pg.dsn).close()
    rows = pg.sql("SELECT component, version FROM asap_native_schema ORDER BY component")
    assert rows.splitlines() == ["snapshots|1", "usage_events|1"]
    pg.sql("UPDATE asap_native_schema SET version = 7 WHERE component = 'snapshots'")
    with pytest.raises(asap_native.StoreError, match="newer than this asap_native knows"):
        asap_native.PostgresSnapshotStore(pg.dsn)


def test_close_with_and_repr(pg: PgSchema) -> None:
    url = pg.url()
    store = asap_native.PostgresSnapshotStore(url)
    assert "asap-test-password" not in repr(store)
    assert repr(store).startswith("PostgresSnapshotStore(dsn='host=127.0.0.1 port=")
    assert "user=asap" in store.server
    with store:
        store.save(make_snapshot("t", 1))
    assert store.closed
    with pytest.raises(StoreClosedError):
        store.get("t")
    with pytest.raises(sqlite3.ProgrammingError):  # as the SQLite stores raise
        store.save(make_snapshot("t", 2))
    store.close()  # idempotent
    stats = store.stats()
    assert stats["operations"]["save"]["count"] == 2
    assert set(stats["errors"]) >= {"connection", "authentication", "timeout", "closed"}


def test_arguments_are_checked(pg: PgSchema) -> None:
    with pytest.raises(TypeError, match="dsn must be a str"):
        asap_native.PostgresSnapshotStore(b"host=x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timeout"):
        asap_native.PostgresSnapshotStore(pg.dsn, timeout=True)
    for bad in (0, -1, 86401, math.nan):
        with pytest.raises(ValueError, match="timeout"):
            asap_native.PostgresMeteringStore(pg.dsn, timeout=bad)
    with pytest.raises(ValueError, match="max_connections"):
        asap_native.PostgresSnapshotStore(pg.dsn, max_connections=0)
    with asap_native.PostgresSnapshotStore(pg.dsn, max_connections=1) as store:
        with pytest.raises(ValueError, match="NUL"):
            store.get("a\x00b")
        assert store.get("") is None  # any other str is a key, as in asap-protocol


# ---- factories and install() ----


def test_create_snapshot_store_postgresql(pg: PgSchema, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASAP_STORAGE_BACKEND", " PostgreSQL ")
    monkeypatch.setenv("ASAP_STORAGE_URL", pg.url())
    store = asap_native.create_snapshot_store()
    try:
        assert type(store) is asap_native.PostgresSnapshotStore
        store.save(make_snapshot("factory", 1))
    finally:
        store.close()
    monkeypatch.delenv("ASAP_STORAGE_URL")
    with pytest.raises(ValueError, match="ASAP_STORAGE_URL"):
        asap_native.create_snapshot_store()


def test_create_async_snapshot_store_postgresql(
    pg: PgSchema, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASAP_STORAGE_URL", pg.dsn)
    monkeypatch.setenv("ASAP_STORAGE_BACKEND", "postgresql")
    stores = [
        asap_native.create_async_snapshot_store(),
        asap_native.create_async_snapshot_store("postgresql"),
    ]
    explicit_sqlite = asap_native.create_async_snapshot_store("sqlite")
    try:
        assert [type(s) for s in stores] == [asap_native.PostgresAsyncSnapshotStore] * 2
        assert type(explicit_sqlite) is asap_native.SQLiteAsyncSnapshotStore

        async def main() -> None:
            await stores[0].save(make_snapshot("f", 1))
            assert (await stores[1].get("f")) is not None

        asyncio.run(main())
    finally:
        for store in [*stores, explicit_sqlite]:
            store.close()
    # Without the environment variable the default stays sqlite, as in asap-protocol.
    monkeypatch.setenv("ASAP_STORAGE_BACKEND", "memory")
    with asap_native.create_async_snapshot_store() as default:
        assert type(default) is asap_native.SQLiteAsyncSnapshotStore


def test_install_makes_asap_use_postgresql(pg: PgSchema, monkeypatch: pytest.MonkeyPatch) -> None:
    import asap.state.stores as asap_stores
    import asap.transport.server as asap_server

    from asap_native import integration

    monkeypatch.setenv("ASAP_STORAGE_BACKEND", "postgresql")
    monkeypatch.setenv("ASAP_STORAGE_URL", pg.url())
    integration.install()
    try:
        for factory in (asap_stores.create_snapshot_store, asap_server.create_snapshot_store):
            store = factory()
            try:
                assert type(store) is asap_native.PostgresSnapshotStore
            finally:
                store.close()
    finally:
        integration.uninstall()


def test_keys_of_other_types_are_refused_sync_and_awaited(pg: PgSchema) -> None:
    async def main() -> None:
        async with asap_native.PostgresAsyncSnapshotStore(pg.dsn) as store:
            with pytest.raises(TypeError, match="task_id must be a str"):
                await store.get(123)  # type: ignore[arg-type]
            with pytest.raises(OverflowError, match="64 bits"):
                await store.delete("t", 2**64)

    with asap_native.PostgresSnapshotStore(pg.dsn) as store:
        store.save(make_snapshot("1", 1))
        with pytest.raises(TypeError, match="task_id must be a str"):
            store.get(1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="version an int"):
            store.delete("1", 1.0)  # type: ignore[arg-type]
        with pytest.raises(OverflowError, match="64 bits"):
            store.get("1", -(2**63) - 1)
        with pytest.raises(TypeError):
            store.list_versions(b"1")  # type: ignore[arg-type]
        assert store.list_versions("1") == [1]
    asyncio.run(main())
