"""Bad input to every method and constructor: a clear Python exception, and the store lives on."""

from __future__ import annotations

import math
import random
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import BASE_TIME, assert_usable, make_event, make_snapshot, open_metering_store

import asap_native
from asap_native import (
    InMemoryMeteringStore,
    InMemorySnapshotStore,
    NotADatabaseError,
    SQLiteMeteringStore,
    SQLiteSnapshotStore,
    StoreError,
)

T0 = datetime(2024, 5, 17, 8, 0, tzinfo=timezone.utc)
T1 = datetime(2024, 5, 17, 9, 0, tzinfo=timezone.utc)


class FakeSnapshot:
    """Any object with StateSnapshot's attributes; tests override one at a time."""

    def __init__(self, **overrides: Any) -> None:
        self.id = "snap_fake"
        self.task_id = "task_fake"
        self.version = 1
        self.data: Any = {"k": "v"}
        self.checkpoint: Any = False
        self.created_at: Any = BASE_TIME
        for name, value in overrides.items():
            setattr(self, name, value)


class FakeMetrics:
    def __init__(self, **overrides: Any) -> None:
        self.tokens_in: Any = 1
        self.tokens_out: Any = 2
        self.duration_ms: Any = 3
        self.api_calls: Any = 4
        for name, value in overrides.items():
            setattr(self, name, value)


class FakeEvent:
    def __init__(self, **overrides: Any) -> None:
        self.task_id: Any = "task_fake"
        self.agent_id: Any = "agent_fake"
        self.consumer_id: Any = "consumer_fake"
        self.metrics: Any = FakeMetrics()
        self.timestamp: Any = T0
        for name, value in overrides.items():
            setattr(self, name, value)


def assert_refused_without(missing: str, fake: Any, write: Callable[[Any], object]) -> None:
    """``write`` refuses ``fake`` once its attribute ``missing`` is gone, naming it."""
    delattr(fake, missing)
    with pytest.raises(TypeError, match=missing):
        write(fake)


def assert_metering_usable(store: Any) -> None:
    event = make_event("usable_agent", T0)
    store.record_sync(event)
    got = store.query_sync("usable_agent", T0, T0)
    assert got and got[-1].task_id == event.task_id


# --- snapshot save ---------------------------------------------------------------------------

# Fields of a type StateSnapshot does not allow are refused (asap-protocol's stores would bind
# or keep them unchecked); values of the right type go through as asap's stores take them.
BAD_SNAPSHOT_FIELDS = [
    ("task_id", 1, TypeError),
    ("task_id", None, TypeError),
    ("task_id", b"task", TypeError),
    ("task_id", ["t"], TypeError),
    ("task_id", "bad\udc80", UnicodeEncodeError),
    ("id", 1, TypeError),
    ("id", None, TypeError),
    ("id", "\ud800", UnicodeEncodeError),
    ("version", True, TypeError),
    ("version", False, TypeError),
    ("version", 1.0, TypeError),
    ("version", "1", TypeError),
    ("version", None, TypeError),
    ("version", 2**63, OverflowError),
    ("version", -(2**63) - 1, OverflowError),
    ("version", 2**100, OverflowError),
    ("data", None, TypeError),
    ("data", [1, 2], TypeError),
    ("data", "{}", TypeError),
    ("created_at", None, TypeError),
    ("created_at", 1700000000, TypeError),
    ("created_at", "yesterday", ValueError),
    ("created_at", "2024-13-01T00:00:00", ValueError),
    ("created_at", "2023-02-29T00:00:00", ValueError),
    ("created_at", "2024-01-01T25:00:00", ValueError),
    ("created_at", "2024-01-01T00:00:00+25:00", ValueError),
    ("created_at", "0000-01-01T00:00:00", ValueError),  # datetime cannot hold year 0
    ("created_at", "", ValueError),
    ("created_at", "\ud800", ValueError),
]


def message_and_notes(error: BaseException) -> str:
    return " ".join([str(error), *getattr(error, "__notes__", [])])


@pytest.mark.parametrize(
    ("field", "value", "error"),
    BAD_SNAPSHOT_FIELDS,
    ids=[f"{f}={v!r}" for f, v, _ in BAD_SNAPSHOT_FIELDS],
)
def test_save_rejects_bad_fields(
    snapshot_store: Any, field: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        snapshot_store.save(FakeSnapshot(**{field: value}))
    if sys.version_info >= (3, 11) or error is not UnicodeEncodeError:
        assert field in message_and_notes(info.value)
    assert snapshot_store.list_versions("task_fake") == []
    assert_usable(snapshot_store)


@pytest.mark.parametrize(
    "override",
    [{"task_id": ""}, {"id": ""}, {"version": 0}, {"version": -1}, {"version": -(2**63)}],
    ids=repr,
)
def test_save_takes_what_asaps_stores_take(snapshot_store: Any, override: dict[str, Any]) -> None:
    # StateSnapshot itself wants version >= 1, but asap-protocol's stores write whatever
    # version a snapshot holds (model_construct, older rows): so do we.
    fake = FakeSnapshot(**override)
    snapshot_store.save(fake)
    got = snapshot_store.get(fake.task_id, fake.version)
    assert (got.task_id, got.id, got.version) == (fake.task_id, fake.id, fake.version)
    assert snapshot_store.list_versions(fake.task_id) == [fake.version]


@pytest.mark.parametrize("missing", ["id", "task_id", "version", "data", "created_at"])
def test_save_rejects_missing_attribute(snapshot_store: Any, missing: str) -> None:
    assert_refused_without(missing, FakeSnapshot(), snapshot_store.save)
    assert_usable(snapshot_store)


@pytest.mark.parametrize("not_a_snapshot", [None, 1, "snapshot", {"task_id": "t"}, object()])
def test_save_rejects_non_snapshots(snapshot_store: Any, not_a_snapshot: Any) -> None:
    with pytest.raises(TypeError, match="StateSnapshot"):
        snapshot_store.save(not_a_snapshot)
    assert_usable(snapshot_store)


def test_checkpoint_is_optional_and_truthiness_is_used(snapshot_store: Any) -> None:
    fake = FakeSnapshot(task_id="no_checkpoint")
    del fake.checkpoint
    snapshot_store.save(fake)
    assert snapshot_store.get("no_checkpoint").checkpoint is False
    snapshot_store.save(FakeSnapshot(task_id="truthy", checkpoint=2))
    assert snapshot_store.get("truthy").checkpoint is True


def test_errors_raised_by_attributes_propagate(snapshot_store: Any) -> None:
    class Exploding(FakeSnapshot):
        @property
        def data(self) -> Any:  # type: ignore[override]
            raise RuntimeError("data exploded")

        @data.setter
        def data(self, value: Any) -> None:
            pass

    class BadBool:
        def __bool__(self) -> bool:
            raise RuntimeError("no truth")

    with pytest.raises(RuntimeError, match="data exploded"):
        snapshot_store.save(Exploding())
    with pytest.raises(RuntimeError, match="no truth"):
        snapshot_store.save(FakeSnapshot(checkpoint=BadBool()))
    assert snapshot_store.list_versions("task_fake") == []
    assert_usable(snapshot_store)


def test_created_at_may_be_an_iso_string(snapshot_store: Any) -> None:
    snapshot_store.save(FakeSnapshot(task_id="iso", created_at="2024-01-02T03:04:05Z"))
    got = snapshot_store.get("iso").created_at
    assert got == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


ISO_TEXTS = [
    ("2024-01-02T03:04:05.5", datetime(2024, 1, 2, 3, 4, 5, 500000)),
    ("2024-01-02T03:04:05,25", datetime(2024, 1, 2, 3, 4, 5, 250000)),
    ("2024-01-02T03:04:05.1234567", datetime(2024, 1, 2, 3, 4, 5, 123456)),
    ("2024-01-02T03:04:05.12Z", datetime(2024, 1, 2, 3, 4, 5, 120000, tzinfo=timezone.utc)),
    ("2024-01-02 03:04", datetime(2024, 1, 2, 3, 4)),
    ("2024-01-02T03:04z", datetime(2024, 1, 2, 3, 4, tzinfo=timezone.utc)),
    (
        "2024-01-02T03:04:05.1+02:00",
        datetime(2024, 1, 2, 3, 4, 5, 100000, tzinfo=timezone(timedelta(hours=2))),
    ),
]


@pytest.mark.parametrize(("text", "expected"), ISO_TEXTS, ids=[t for t, _ in ISO_TEXTS])
def test_iso_strings_accepted_on_save_read_back(
    snapshot_store: Any, text: str, expected: datetime
) -> None:
    # Whatever save accepts, get must read back on every supported Python (3.10's
    # fromisoformat is stricter than the parser that validates on save).
    snapshot_store.save(FakeSnapshot(task_id="iso_text", created_at=text))
    got = snapshot_store.get("iso_text").created_at
    assert got == expected
    assert got.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(("text", "expected"), ISO_TEXTS, ids=[t for t, _ in ISO_TEXTS])
def test_iso_strings_accepted_on_record_read_back(
    metering_store: Any, text: str, expected: datetime
) -> None:
    metering_store.record_sync(FakeEvent(agent_id="iso_agent", timestamp=text))
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    (got,) = metering_store.query_sync("iso_agent", start, start + timedelta(days=2))
    assert got.timestamp == expected


# --- snapshot get / list_versions / delete ---------------------------------------------------
# Keys of any value are looked up as asap-protocol's store of the same kind looks them up, so
# each case runs on both and the outcomes (result or exception type) must be equal.

ODD_TASK_IDS = [1, 1.0, None, b"1", b"t", "", "1", "\ud800", ["x"], ("task_a",), True]
ODD_VERSIONS = [
    None,
    0,
    -5,
    1,
    1.0,
    1.5,
    True,
    False,
    "1",
    b"1",
    2**63 - 1,
    2**63,
    2**64,
    -(2**63),
    -(2**63) - 1,
    ["x"],
]


def outcome(function: Any, *arguments: Any) -> tuple[Any, ...]:
    """What a call did: ("raises", the exception type) or its result, made comparable."""
    try:
        result = function(*arguments)
    except Exception as error:  # the type is the outcome compared
        return ("raises", type(error))
    if hasattr(result, "task_id"):
        return ("snapshot", result.task_id, result.id, result.version)
    return ("returns", result)


@pytest.fixture(params=["sqlite", "memory"])
def store_and_asaps(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """Our snapshot store and asap-protocol's of the same kind, holding the same snapshots."""
    from asap.state.stores import memory as asap_memory
    from asap.state.stores import sqlite as asap_sqlite

    if request.param == "sqlite":
        ours: Any = SQLiteSnapshotStore(tmp_path / "ours.db")
        theirs: Any = asap_sqlite.SQLiteSnapshotStore(tmp_path / "asap.db")
    else:
        ours, theirs = InMemorySnapshotStore(), asap_memory.InMemorySnapshotStore()
    for task_id, version in [("task_a", 1), ("task_a", 2), ("1", 1), ("", 3)]:
        snapshot = make_snapshot(task_id, version)
        ours.save(snapshot)
        theirs.save(snapshot)
    yield ours, theirs
    ours.close()


@pytest.mark.parametrize("task_id", ODD_TASK_IDS, ids=repr)
def test_task_ids_are_looked_up_as_asap_does(
    store_and_asaps: tuple[Any, Any], task_id: Any
) -> None:
    ours, theirs = store_and_asaps
    for name, arguments in [
        ("get", (task_id,)),
        ("get", (task_id, 1)),
        ("list_versions", (task_id,)),
        ("delete", (task_id, 9)),
        ("delete", (task_id,)),
    ]:
        expected = outcome(getattr(theirs, name), *arguments)
        assert outcome(getattr(ours, name), *arguments) == expected, (name, arguments)
    assert ours.list_versions("task_a") == theirs.list_versions("task_a")
    assert_usable(ours)


@pytest.mark.parametrize("version", ODD_VERSIONS, ids=repr)
def test_versions_are_looked_up_as_asap_does(
    store_and_asaps: tuple[Any, Any], version: Any
) -> None:
    ours, theirs = store_and_asaps
    for task_id in ("task_a", "missing"):
        for name in ("get", "delete"):
            expected = outcome(getattr(theirs, name), task_id, version)
            assert outcome(getattr(ours, name), task_id, version) == expected, (name, task_id)
    assert ours.list_versions("task_a") == theirs.list_versions("task_a")
    assert_usable(ours)


async def test_awaited_lookups_match_the_sync_ones(tmp_path: Path) -> None:
    store = SQLiteSnapshotStore(tmp_path / "s.db")
    try:
        store.save(make_snapshot("1", 1))
        for task_id, version in [(1, None), (1, 1.0), ("1", True), ("1", 2**64)]:
            sync = outcome(store.get, task_id, version)
            try:
                got = await store.get_async(task_id, version)
            except Exception as error:  # the type is the outcome compared
                awaited: tuple[Any, ...] = ("raises", type(error))
            else:
                awaited = outcome(lambda value: value, got)
            assert awaited == sync, (task_id, version)
    finally:
        store.close()


def test_wrong_argument_counts(snapshot_store: Any) -> None:
    with pytest.raises(TypeError):
        snapshot_store.get()
    with pytest.raises(TypeError):
        snapshot_store.get("t", 1, 2)
    with pytest.raises(TypeError):
        snapshot_store.save()
    with pytest.raises(TypeError):
        snapshot_store.list_versions("t", 1)
    assert snapshot_store.get(task_id="nothing", version=None) is None
    assert_usable(snapshot_store)


# --- constructors ------------------------------------------------------------------------------

STORE_CLASSES = [SQLiteSnapshotStore, SQLiteMeteringStore]


@pytest.mark.parametrize("cls", STORE_CLASSES)
@pytest.mark.parametrize("db_path", [1, None, 3.5, ["a.db"], b"state.db"], ids=repr)
def test_db_path_of_wrong_type(cls: type, db_path: Any) -> None:
    with pytest.raises(TypeError):
        cls(db_path)


@pytest.mark.parametrize("cls", STORE_CLASSES)
def test_db_path_empty_or_with_nul(cls: type) -> None:
    with pytest.raises(ValueError, match="empty"):
        cls("")
    with pytest.raises(ValueError, match="NUL"):
        cls("state\0.db")


@pytest.mark.parametrize("cls", STORE_CLASSES)
def test_db_path_is_a_directory(cls: type, tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError) as info:
        cls(tmp_path)
    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize("cls", STORE_CLASSES)
def test_db_path_in_missing_folder(cls: type, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "deeper" / "state.db"
    with pytest.raises(FileNotFoundError) as info:
        cls(target)
    assert "missing" in str(info.value)
    assert not target.parent.exists()


@pytest.mark.parametrize("cls", STORE_CLASSES)
def test_db_path_through_a_file(cls: type, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OSError):
        cls(tmp_path / "plain" / "state.db")


@pytest.mark.parametrize("cls", STORE_CLASSES)
@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database" * 100,
        b"SQLite format 3\x00" + b"\xff" * 200,
        random.Random(8192).randbytes(8192),
    ],
    ids=["text", "bad-header", "random"],
)
def test_db_path_not_a_database(cls: type, tmp_path: Path, content: bytes) -> None:
    target = tmp_path / "junk.db"
    target.write_bytes(content)
    with pytest.raises(NotADatabaseError) as info:
        cls(target)
    assert isinstance(info.value, sqlite3.DatabaseError)
    assert info.value.sqlite_errorname in ("SQLITE_NOTADB", "SQLITE_CORRUPT")
    assert target.read_bytes() == content  # left untouched


@pytest.mark.parametrize("cls", STORE_CLASSES)
def test_empty_existing_file_becomes_a_database(cls: type, tmp_path: Path) -> None:
    target = tmp_path / "empty.db"
    target.touch()
    store = cls(target)
    store.close()
    with closing(sqlite3.connect(target)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("cls", STORE_CLASSES)
@pytest.mark.parametrize(
    ("durability", "error"),
    [
        ("fast", ValueError),
        ("NORMAL", ValueError),
        ("", ValueError),
        (None, TypeError),
        (1, TypeError),
    ],
)
def test_bad_durability(cls: type, durability: Any, error: type) -> None:
    with pytest.raises(error, match="durability"):
        cls(":memory:", durability=durability)


@pytest.mark.parametrize("cls", STORE_CLASSES)
@pytest.mark.parametrize(
    ("timeout", "error"),
    [
        ("1", TypeError),
        (None, TypeError),
        (True, TypeError),
        (-1, ValueError),
        (math.nan, ValueError),
        (math.inf, ValueError),
    ],
)
def test_bad_timeout(cls: type, timeout: Any, error: type) -> None:
    with pytest.raises(error, match="timeout"):
        cls(":memory:", timeout=timeout)


@pytest.mark.parametrize("cls", STORE_CLASSES)
def test_options_are_keyword_only(cls: type) -> None:
    with pytest.raises(TypeError):
        cls(":memory:", "full")


@pytest.mark.parametrize("cls", [InMemorySnapshotStore, InMemoryMeteringStore])
def test_in_memory_stores_take_no_arguments(cls: type) -> None:
    with pytest.raises(TypeError):
        cls("path.db")


def test_failed_open_does_not_affect_other_stores(tmp_path: Path) -> None:
    good = SQLiteSnapshotStore(tmp_path / "good.db")
    try:
        (tmp_path / "bad.db").write_bytes(b"garbage" * 1000)
        for _ in range(20):
            with pytest.raises(StoreError):
                SQLiteSnapshotStore(tmp_path / "bad.db")
        assert_usable(good)
    finally:
        good.close()


# --- metering ----------------------------------------------------------------------------------

BAD_EVENT_FIELDS = [
    ("task_id", 1, TypeError),
    ("task_id", None, TypeError),
    ("agent_id", b"a", TypeError),
    ("agent_id", "\ud800", UnicodeEncodeError),
    ("consumer_id", None, TypeError),
    ("timestamp", None, TypeError),
    ("timestamp", 1700000000, TypeError),
    ("timestamp", "now", ValueError),
    ("timestamp", "0000-01-01T00:00:00", ValueError),
    ("metrics", None, TypeError),
    ("metrics", 5, TypeError),
    ("metrics", "many", TypeError),
    ("metrics", FakeMetrics(tokens_in=-1), ValueError),
    ("metrics", FakeMetrics(tokens_out=1.5), TypeError),
    ("metrics", FakeMetrics(api_calls=True), TypeError),
    ("metrics", FakeMetrics(duration_ms=2**127), ValueError),
    ("metrics", FakeMetrics(duration_ms="3"), TypeError),
    ("metrics", {"tokens_in": -3}, ValueError),
    ("metrics", {"api_calls": None}, TypeError),
]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    BAD_EVENT_FIELDS,
    ids=[
        f"{f}={v!r}" if not isinstance(v, FakeMetrics) else f"{f}={vars(v)}"
        for f, v, _ in BAD_EVENT_FIELDS
    ],
)
async def test_record_rejects_bad_fields(
    metering_store: Any, field: str, value: Any, error: type
) -> None:
    with pytest.raises(error) as info:
        await metering_store.record(FakeEvent(**{field: value}))
    if sys.version_info >= (3, 11) or error is not UnicodeEncodeError:
        assert field in message_and_notes(info.value)
    with pytest.raises(error):
        metering_store.record_sync(FakeEvent(**{field: value}))
    assert (await metering_store.aggregate("agent_fake", "day")).total_tasks == 0
    assert_metering_usable(metering_store)


@pytest.mark.parametrize("not_an_event", [None, 1, "event", object()])
async def test_record_rejects_non_events(metering_store: Any, not_an_event: Any) -> None:
    with pytest.raises(TypeError, match="UsageEvent"):
        await metering_store.record(not_an_event)
    assert_metering_usable(metering_store)


@pytest.mark.parametrize("missing", ["task_id", "agent_id", "consumer_id", "metrics", "timestamp"])
def test_record_rejects_missing_attribute(metering_store: Any, missing: str) -> None:
    assert_refused_without(missing, FakeEvent(), metering_store.record_sync)
    assert_metering_usable(metering_store)


async def test_empty_ids_are_recorded_as_asap_records_them(metering_store: Any) -> None:
    await metering_store.record(FakeEvent(task_id="", agent_id="", consumer_id=""))
    (got,) = await metering_store.query("", T0, T0)
    assert (got.task_id, got.agent_id, got.consumer_id) == ("", "", "")
    assert (await metering_store.aggregate("", "")).total_tasks == 1


def test_missing_counters_default_to_zero(metering_store: Any) -> None:
    metrics = FakeMetrics()
    del metrics.api_calls
    metering_store.record_sync(FakeEvent(agent_id="partial", metrics=metrics))
    metering_store.record_sync(FakeEvent(agent_id="partial", metrics={"tokens_in": 7}))
    total = metering_store.aggregate_sync("partial", "day")
    assert (total.total_tokens, total.total_duration, total.total_api_calls) == (10, 3, 0)


# Arguments of a type asap-protocol's signature does not take raise TypeError (its stores
# would bind some of them into SQL, or fail later with another error); values of the right
# type behave as in asap's SQLite store (compared in test_query_paging_matches_asap).
BAD_QUERY_ARGS = [
    ({"agent_id": 1}, TypeError, "agent_id"),
    ({"agent_id": None}, TypeError, "agent_id"),
    ({"agent_id": "\ud800"}, UnicodeEncodeError, "agent_id"),
    ({"start": None}, TypeError, "start"),
    ({"start": 5}, TypeError, "start"),
    ({"start": "soon"}, ValueError, "start"),
    ({"end": None}, TypeError, "end"),
    ({"end": "2024-02-30T00:00:00"}, ValueError, "end"),
    ({"limit": 1.5}, TypeError, "limit"),
    ({"limit": "3"}, TypeError, "limit"),
    ({"limit": 2**64}, OverflowError, "limit"),
    ({"offset": None}, TypeError, "offset"),
    ({"offset": 1.0}, TypeError, "offset"),
    ({"offset": -1}, ValueError, "offset"),
    ({"offset": -(2**63)}, ValueError, "offset"),
    ({"offset": 2**64}, OverflowError, "offset"),
]


@pytest.mark.parametrize(
    ("override", "error", "name"), BAD_QUERY_ARGS, ids=[repr(o) for o, _, _ in BAD_QUERY_ARGS]
)
async def test_query_arguments_are_checked(
    metering_store: Any, override: dict[str, Any], error: type, name: str
) -> None:
    arguments: dict[str, Any] = {
        "agent_id": "a",
        "start": T0,
        "end": T1,
        "limit": None,
        "offset": 0,
    }
    arguments.update(override)
    with pytest.raises(error) as info:
        await metering_store.query(**arguments)
    if sys.version_info >= (3, 11) or error is not UnicodeEncodeError:
        assert name in message_and_notes(info.value)
    with pytest.raises(error):
        metering_store.query_sync(**arguments)
    assert_metering_usable(metering_store)


PAGES = [(None, 0), (2, 1), (0, 0), (-1, 0), (-1, 2), (-2, 1), (True, False), (1, True), (9, 9)]


@pytest.mark.parametrize(("limit", "offset"), PAGES, ids=repr)
async def test_query_paging_matches_asap(tmp_path: Path, limit: Any, offset: Any) -> None:
    from asap.state.metering import InMemoryMeteringStore as AsapInMemory
    from asap.state.stores.sqlite import SQLiteMeteringStore as AsapSQLite

    pairs = [
        (SQLiteMeteringStore(tmp_path / "ours.db"), AsapSQLite(tmp_path / "asap.db")),
        (InMemoryMeteringStore(), AsapInMemory()),
    ]
    for ours, theirs in pairs:
        for minute in range(5):
            event = make_event("paged", T0 + timedelta(minutes=minute))
            await ours.record(event)
            await theirs.record(event)
        expected = [e.timestamp for e in await theirs.query("paged", T0, T1, limit, offset)]
        got = [e.timestamp for e in await ours.query("paged", T0, T1, limit, offset)]
        assert got == expected, type(ours).__name__
        ours.close()


async def test_query_accepts_iso_strings_and_dates(metering_store: Any) -> None:
    await metering_store.record(make_event("a", T0))
    assert len(await metering_store.query("a", "2024-05-17T08:00:00Z", "2024-05-17T09:00:00Z")) == 1
    assert len(await metering_store.query("a", date(2024, 5, 17), "2024-05-17T10:00:00+02:00")) == 1


BAD_AGGREGATE_ARGS = [
    ("a", None, TypeError, "period"),
    ("a", 1, TypeError, "period"),
    ("a", b"day", TypeError, "period"),
    ("a", "da\ud800y", UnicodeEncodeError, "period"),
    (1, "day", TypeError, "agent_id"),
    ("\ud800", "day", UnicodeEncodeError, "agent_id"),
]


@pytest.mark.parametrize(("agent_id", "period", "error", "name"), BAD_AGGREGATE_ARGS)
async def test_aggregate_arguments_are_checked(
    metering_store: Any, agent_id: Any, period: Any, error: type, name: str
) -> None:
    with pytest.raises(error) as info:
        await metering_store.aggregate(agent_id, period)
    if sys.version_info >= (3, 11) or error is not UnicodeEncodeError:
        assert name in message_and_notes(info.value)
    with pytest.raises(error):
        metering_store.aggregate_sync(agent_id, period)
    assert_metering_usable(metering_store)


@pytest.mark.parametrize("kind", ["sqlite-file", "sqlite-memory", "memory"])
def test_many_failures_in_a_row_leave_the_stores_usable(kind: str, tmp_path: Path) -> None:
    from conftest import open_snapshot_store

    snaps = open_snapshot_store(kind, tmp_path / "s.db")
    meter = open_metering_store(kind, tmp_path / "m.db")
    try:
        for i in range(200):
            with pytest.raises(TypeError):
                snaps.save(FakeSnapshot(task_id=i))
            with pytest.raises((TypeError, sqlite3.ProgrammingError)):
                snaps.get(["unhashable", i])
            with pytest.raises((TypeError, ValueError)):
                meter.record_sync(FakeEvent(timestamp=f"bad-{i}"))
            with pytest.raises((TypeError, ValueError)):
                meter.query_sync("a", T0, T1, offset=-1 - i)
        assert_usable(snaps)
        assert_metering_usable(meter)
    finally:
        snaps.close()
        meter.close()


def test_public_names_exist() -> None:
    for name in asap_native.__all__:
        assert hasattr(asap_native, name), name
