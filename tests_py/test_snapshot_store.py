"""Snapshot stores through Python: CRUD, ordering, models, persistence, factory, close."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import asap.state.stores as asap_stores
import pytest
from asap.models.entities import StateSnapshot as AsapStateSnapshot
from asap.state.snapshot import SnapshotStore as AsapSnapshotStoreProtocol
from conftest import (
    BASE_TIME,
    assert_same_snapshot,
    assert_satisfies_protocol,
    make_event,
    make_snapshot,
    open_snapshot_store,
)

import asap_native
from asap_native import InMemorySnapshotStore, SQLiteSnapshotStore, StoreClosedError

# --- CRUD and ordering -------------------------------------------------------------------


def test_save_then_get_returns_every_field(snapshot_store: Any) -> None:
    snap = make_snapshot("task_a", 1, {"progress": 0.5, "items": [1, 2, 3]}, checkpoint=True)
    snapshot_store.save(snap)
    assert_same_snapshot(snapshot_store.get("task_a"), snap)
    assert_same_snapshot(snapshot_store.get("task_a", 1), snap)


def test_get_returns_asap_state_snapshot(snapshot_store: Any) -> None:
    snapshot_store.save(make_snapshot("task_a", 1))
    got = snapshot_store.get("task_a")
    assert type(got) is AsapStateSnapshot


def test_get_missing_returns_none(snapshot_store: Any) -> None:
    assert snapshot_store.get("nobody") is None
    assert snapshot_store.get("nobody", 3) is None
    snapshot_store.save(make_snapshot("task_a", 1))
    assert snapshot_store.get("task_a", 2) is None
    assert snapshot_store.get("task_", None) is None  # no prefix matching


def test_latest_is_highest_version_whatever_the_save_order(snapshot_store: Any) -> None:
    snaps = {v: make_snapshot("task_a", v, {"v": v}) for v in (3, 1, 10, 2)}
    for snap in snaps.values():
        snapshot_store.save(snap)
    assert_same_snapshot(snapshot_store.get("task_a"), snaps[10])
    for version, snap in snaps.items():
        assert_same_snapshot(snapshot_store.get("task_a", version), snap)


def test_list_versions_is_ascending_numeric(snapshot_store: Any) -> None:
    for version in (10, 2, 33, 1, 9, 100):
        snapshot_store.save(make_snapshot("task_a", version))
    assert snapshot_store.list_versions("task_a") == [1, 2, 9, 10, 33, 100]
    assert snapshot_store.list_versions("unknown") == []


def test_save_same_version_replaces(snapshot_store: Any) -> None:
    first = make_snapshot("task_a", 1, {"old": True}, checkpoint=False)
    second = make_snapshot("task_a", 1, {"new": True}, checkpoint=True)
    snapshot_store.save(first)
    snapshot_store.save(second)
    assert snapshot_store.list_versions("task_a") == [1]
    assert_same_snapshot(snapshot_store.get("task_a", 1), second)


def test_delete_one_version(snapshot_store: Any) -> None:
    for version in (1, 2, 3):
        snapshot_store.save(make_snapshot("task_a", version))
    assert snapshot_store.delete("task_a", 2) is True
    assert snapshot_store.list_versions("task_a") == [1, 3]
    assert snapshot_store.get("task_a", 2) is None
    assert snapshot_store.delete("task_a", 2) is False
    assert snapshot_store.delete("task_a", 99) is False
    assert snapshot_store.get("task_a").version == 3


def test_delete_latest_makes_previous_latest(snapshot_store: Any) -> None:
    for version in (1, 2, 3):
        snapshot_store.save(make_snapshot("task_a", version, {"v": version}))
    assert snapshot_store.delete("task_a", 3) is True
    assert snapshot_store.get("task_a").version == 2
    assert snapshot_store.get("task_a").data == {"v": 2}


def test_delete_all_versions(snapshot_store: Any) -> None:
    for version in (1, 2, 3):
        snapshot_store.save(make_snapshot("task_a", version))
    snapshot_store.save(make_snapshot("task_b", 1))
    assert snapshot_store.delete("task_a") is True
    assert snapshot_store.list_versions("task_a") == []
    assert snapshot_store.get("task_a") is None
    assert snapshot_store.delete("task_a") is False
    assert snapshot_store.delete("never_saved") is False
    assert snapshot_store.list_versions("task_b") == [1]


def test_tasks_are_isolated(snapshot_store: Any) -> None:
    a = make_snapshot("task_a", 1, {"who": "a"})
    b = make_snapshot("task_b", 5, {"who": "b"})
    snapshot_store.save(a)
    snapshot_store.save(b)
    assert_same_snapshot(snapshot_store.get("task_a"), a)
    assert_same_snapshot(snapshot_store.get("task_b"), b)
    assert snapshot_store.list_versions("task_a") == [1]
    assert snapshot_store.list_versions("task_b") == [5]
    assert snapshot_store.get("task_a", 5) is None


def test_save_after_delete_all(snapshot_store: Any) -> None:
    snapshot_store.save(make_snapshot("task_a", 4))
    snapshot_store.delete("task_a")
    fresh = make_snapshot("task_a", 1, {"again": 1})
    snapshot_store.save(fresh)
    assert_same_snapshot(snapshot_store.get("task_a"), fresh)


def test_large_versions(snapshot_store: Any) -> None:
    top = 2**63 - 1
    snapshot_store.save(make_snapshot("task_a", top, created_at=BASE_TIME))
    snapshot_store.save(make_snapshot("task_a", 1))
    assert snapshot_store.list_versions("task_a") == [1, top]
    assert snapshot_store.get("task_a").version == top


# --- data fidelity ---------------------------------------------------------------------


def test_key_order_of_data_is_preserved(snapshot_store: Any) -> None:
    data = {
        "zeta": 1,
        "alpha": {"z": 1, "b": 2, "a": 3, "y": {"9": 0, "1": 0, "5": 0}},
        "mid": [{"k2": 1, "k1": 2}],
        "beta": None,
    }
    snapshot_store.save(make_snapshot("task_a", 1, data))
    got = snapshot_store.get("task_a").data
    assert json.dumps(got) == json.dumps(data)  # equal *and* in the same order, at every level
    assert list(got) == ["zeta", "alpha", "mid", "beta"]
    assert list(got["alpha"]) == ["z", "b", "a", "y"]
    assert list(got["alpha"]["y"]) == ["9", "1", "5"]


def test_json_value_types_round_trip(snapshot_store: Any) -> None:
    data = {
        "none": None,
        "true": True,
        "false": False,
        "zero": 0,
        "neg": -17,
        "float": 3.25,
        "float_whole": 2.0,
        "string": "hello",
        "empty_string": "",
        "empty_list": [],
        "empty_dict": {},
        "nested": {"list": [1, "two", 3.0, None, [False, {"deep": [[]]}]]},
    }
    snapshot_store.save(make_snapshot("task_a", 1, data))
    got = snapshot_store.get("task_a").data
    assert got == data
    assert type(got["float_whole"]) is float
    assert type(got["zero"]) is int
    assert got["true"] is True and got["false"] is False and got["none"] is None


def test_get_returns_a_fresh_copy(snapshot_store: Any) -> None:
    data = {"list": [1, 2], "inner": {"a": 1}}
    snapshot_store.save(make_snapshot("task_a", 1, data))
    data["list"].append(3)  # mutating the caller's dict after save changes nothing stored
    first = snapshot_store.get("task_a")
    assert first.data == {"list": [1, 2], "inner": {"a": 1}}
    first.data["inner"]["a"] = 99
    assert snapshot_store.get("task_a").data == {"list": [1, 2], "inner": {"a": 1}}


def test_large_data_round_trip(snapshot_store: Any) -> None:
    # Big enough to take the json.loads path on read as well as the SAX path on small ones.
    data = {f"key_{i:05d}": {"text": "x" * (i % 50), "n": i, "f": i / 7} for i in range(3000)}
    snapshot_store.save(make_snapshot("task_a", 1, data))
    got = snapshot_store.get("task_a").data
    assert got == data
    assert list(got) == list(data)


@pytest.mark.parametrize(
    "created_at",
    [
        datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc),
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-8))),
        datetime(2024, 1, 2, 3, 4, 5),  # naive stays naive
    ],
)
def test_created_at_round_trip(snapshot_store: Any, created_at: datetime) -> None:
    snap = make_snapshot("task_a", 1, created_at=created_at)
    snapshot_store.save(snap)
    got = snapshot_store.get("task_a")
    assert got.created_at == created_at
    assert (got.created_at.tzinfo is None) == (created_at.tzinfo is None)
    assert got.created_at.utcoffset() == created_at.utcoffset()


def test_checkpoint_flag(snapshot_store: Any) -> None:
    snapshot_store.save(make_snapshot("task_a", 1, checkpoint=True))
    snapshot_store.save(make_snapshot("task_a", 2, checkpoint=False))
    assert snapshot_store.get("task_a", 1).checkpoint is True
    assert snapshot_store.get("task_a", 2).checkpoint is False


def test_save_accepts_any_object_with_the_attributes(snapshot_store: Any) -> None:
    class Duck:
        id = "snap_duck"
        task_id = "task_duck"
        version = 7
        data: ClassVar[dict[str, list[int]]] = {"quack": [1, 2]}
        checkpoint = True
        created_at = BASE_TIME

    snapshot_store.save(Duck())
    got = snapshot_store.get("task_duck")
    assert (got.id, got.version, got.data, got.checkpoint, got.created_at) == (
        "snap_duck",
        7,
        {"quack": [1, 2]},
        True,
        BASE_TIME,
    )


def test_save_accepts_asap_native_model(snapshot_store: Any) -> None:
    snap = asap_native.StateSnapshot(
        id="snap_x", task_id="task_x", version=2, data={"a": 1}, created_at=BASE_TIME
    )
    snapshot_store.save(snap)
    assert_same_snapshot(snapshot_store.get("task_x"), snap)


# --- protocol, persistence, sharing ------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite-file", "sqlite-memory", "memory"])
def test_isinstance_of_asap_snapshot_store(kind: str, db_path: Path) -> None:
    store = open_snapshot_store(kind, db_path)
    try:
        assert_satisfies_protocol(store, AsapSnapshotStoreProtocol)
    finally:
        store.close()


def test_data_persists_across_reopen(db_path: Path) -> None:
    snaps = [make_snapshot("task_a", v, {"v": v, "nested": {"b": 1, "a": 2}}) for v in (1, 2)]
    with SQLiteSnapshotStore(db_path) as store:
        for snap in snaps:
            store.save(snap)
    with SQLiteSnapshotStore(db_path) as store:
        assert store.list_versions("task_a") == [1, 2]
        for snap in snaps:
            assert_same_snapshot(store.get("task_a", snap.version), snap)


def test_two_stores_on_one_file_see_each_other(db_path: Path) -> None:
    with SQLiteSnapshotStore(db_path) as one, SQLiteSnapshotStore(db_path) as two:
        snap = make_snapshot("task_a", 1)
        one.save(snap)
        assert_same_snapshot(two.get("task_a"), snap)
        assert two.delete("task_a", 1) is True
        assert one.get("task_a") is None


def test_memory_databases_are_separate() -> None:
    with SQLiteSnapshotStore(":memory:") as one, SQLiteSnapshotStore(":memory:") as two:
        one.save(make_snapshot("task_a", 1))
        assert two.get("task_a") is None
        assert one.get("task_a") is not None


async def test_snapshot_and_metering_store_share_a_file(db_path: Path) -> None:
    snaps = SQLiteSnapshotStore(db_path)
    meter = asap_native.SQLiteMeteringStore(db_path)
    try:
        snap = make_snapshot("task_a", 1)
        snaps.save(snap)
        await meter.record(make_event("agent_1", BASE_TIME))
        assert_same_snapshot(snaps.get("task_a"), snap)
        assert len(await meter.query("agent_1", BASE_TIME, BASE_TIME)) == 1
    finally:
        snaps.close()
        meter.close()
    with closing(sqlite3.connect(db_path)) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"snapshots", "usage_events"} <= tables


def test_file_uses_wal_and_asap_schema(db_path: Path) -> None:
    with SQLiteSnapshotStore(db_path) as store:
        store.save(make_snapshot("task_a", 1))
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [row[1] for row in conn.execute("PRAGMA table_info(snapshots)")]
        assert columns == ["task_id", "id", "version", "data", "checkpoint", "created_at"]
        info = sorted(conn.execute("PRAGMA table_info(snapshots)"), key=lambda row: row[5])
        pk = [row[1] for row in info if row[5]]
        assert pk == ["task_id", "version"]
    finally:
        conn.close()


def test_database_file_is_readable_by_owner_only(db_path: Path) -> None:
    with SQLiteSnapshotStore(db_path) as store:
        store.save(make_snapshot("task_a", 1))
        assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
        wal = Path(str(db_path) + "-wal")
        if wal.exists():
            assert stat.S_IMODE(os.stat(wal).st_mode) == 0o600


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_durability_options(db_path: Path, durability: str) -> None:
    with SQLiteSnapshotStore(db_path, durability=durability, timeout=1.5) as store:
        snap = make_snapshot("task_a", 1)
        store.save(snap)
        assert_same_snapshot(store.get("task_a"), snap)


def test_accepts_str_and_pathlike(tmp_path: Path) -> None:
    with SQLiteSnapshotStore(str(tmp_path / "a.db")) as by_str:
        by_str.save(make_snapshot("task_a", 1))
        assert by_str.db_path == tmp_path / "a.db"
    with SQLiteSnapshotStore(tmp_path / "a.db") as by_path:
        assert by_path.list_versions("task_a") == [1]


def test_repr_names_the_path(db_path: Path) -> None:
    with SQLiteSnapshotStore(db_path) as store:
        assert str(db_path) in repr(store)
    assert repr(InMemorySnapshotStore()) == "InMemorySnapshotStore()"


# --- close ------------------------------------------------------------------------------


def test_calls_after_close_raise_store_closed(sqlite_snapshot_store: Any) -> None:
    store = sqlite_snapshot_store
    store.save(make_snapshot("task_a", 1))
    assert store.closed is False
    store.close()
    assert store.closed is True
    with pytest.raises(StoreClosedError):
        store.save(make_snapshot("task_a", 2))
    with pytest.raises(StoreClosedError):
        store.get("task_a")
    with pytest.raises(StoreClosedError):
        store.get("task_a", 1)
    with pytest.raises(StoreClosedError):
        store.list_versions("task_a")
    with pytest.raises(StoreClosedError):
        store.delete("task_a")
    store.close()  # closing twice is harmless
    assert store.closed is True


def test_closed_error_is_a_programming_error(db_path: Path) -> None:
    store = SQLiteSnapshotStore(db_path)
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.get("task_a")


def test_context_manager_closes(db_path: Path) -> None:
    with SQLiteSnapshotStore(db_path) as store:
        store.save(make_snapshot("task_a", 1))
    assert store.closed is True
    with pytest.raises(StoreClosedError):
        store.get("task_a")


def test_context_manager_closes_on_exception(db_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), SQLiteSnapshotStore(db_path) as store:
        raise RuntimeError("boom")
    assert store.closed is True


def test_close_keeps_committed_data(db_path: Path) -> None:
    store = SQLiteSnapshotStore(db_path)
    snap = make_snapshot("task_a", 1)
    store.save(snap)
    store.close()
    with SQLiteSnapshotStore(db_path) as again:
        assert_same_snapshot(again.get("task_a"), snap)


# --- create_snapshot_store ----------------------------------------------------------------


def _clear_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASAP_STORAGE_BACKEND", raising=False)
    monkeypatch.delenv("ASAP_STORAGE_PATH", raising=False)


def test_factory_defaults_to_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_env(monkeypatch)
    store = asap_native.create_snapshot_store()
    theirs = asap_stores.create_snapshot_store()
    assert isinstance(store, InMemorySnapshotStore)
    assert type(theirs).__name__ == type(store).__name__ == "InMemorySnapshotStore"


@pytest.mark.parametrize("backend", ["memory", " MEMORY ", "Memory"])
def test_factory_memory_spellings(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    _clear_env(monkeypatch)
    monkeypatch.setenv("ASAP_STORAGE_BACKEND", backend)
    assert type(asap_stores.create_snapshot_store()).__name__ == "InMemorySnapshotStore"
    assert isinstance(asap_native.create_snapshot_store(), InMemorySnapshotStore)


def test_factory_sqlite_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clear_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASAP_STORAGE_BACKEND", "sqlite")
    theirs = asap_stores.create_snapshot_store()
    store = asap_native.create_snapshot_store()
    try:
        assert isinstance(store, SQLiteSnapshotStore)
        assert type(theirs).__name__ == "SQLiteSnapshotStore"
        assert store.db_path == theirs._db_path == Path("asap_state.db")
        assert asap_native.DEFAULT_DB_PATH == asap_stores.DEFAULT_DB_PATH
        store.save(make_snapshot("task_a", 1))
        assert (tmp_path / "asap_state.db").is_file()
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", " SQLite\t"])
def test_factory_sqlite_path_from_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: str
) -> None:
    _clear_env(monkeypatch)
    target = tmp_path / "from_env.db"
    monkeypatch.setenv("ASAP_STORAGE_BACKEND", backend)
    monkeypatch.setenv("ASAP_STORAGE_PATH", f"  {target}  ")
    theirs = asap_stores.create_snapshot_store()
    store = asap_native.create_snapshot_store()
    try:
        assert isinstance(store, SQLiteSnapshotStore)
        assert store.db_path == theirs._db_path == target
        snap = make_snapshot("task_a", 1)
        store.save(snap)
        with SQLiteSnapshotStore(target) as reopened:
            assert_same_snapshot(reopened.get("task_a"), snap)
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["redis", "", "sqlite3", "postgres"])
def test_factory_unknown_backend_raises_like_asap(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    _clear_env(monkeypatch)
    monkeypatch.setenv("ASAP_STORAGE_BACKEND", backend)
    with pytest.raises(ValueError) as theirs:
        asap_stores.create_snapshot_store()
    with pytest.raises(ValueError) as ours:
        asap_native.create_snapshot_store()
    assert str(ours.value) == str(theirs.value)


def test_factory_result_satisfies_protocol(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _clear_env(monkeypatch)
    monkeypatch.setenv("ASAP_STORAGE_BACKEND", "sqlite")
    monkeypatch.setenv("ASAP_STORAGE_PATH", str(tmp_path / "p.db"))
    store = asap_native.create_snapshot_store()
    try:
        assert_satisfies_protocol(store, AsapSnapshotStoreProtocol)
    finally:
        store.close()


@pytest.mark.parametrize(
    "factory",
    [asap_native.InMemorySnapshotStore, asap_native.InMemoryMeteringStore],
)
def test_in_memory_stores_refuse_calls_after_close(factory: Any) -> None:
    store = factory()
    assert not store.closed
    store.close()
    store.close()  # idempotent
    assert store.closed
    if isinstance(store, asap_native.InMemorySnapshotStore):
        with pytest.raises(asap_native.StoreClosedError):
            store.list_versions("task")
    else:
        with pytest.raises(asap_native.StoreClosedError):
            store.aggregate_sync("agent", "day")
