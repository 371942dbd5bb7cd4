"""Shared fixtures and builders for the asap_native test suite.

asap-protocol is installed in the test environment, so stores return its models; the
builders below create asap's own ``StateSnapshot`` / ``UsageEvent`` so tests exercise the
drop-in path. ``test_without_asap.py`` covers the package without asap in a subprocess.
"""

from __future__ import annotations

import inspect
import itertools
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from _postgres import pg, pg_cluster, schema_for  # noqa: F401  (fixtures: PostgreSQL tests)
from asap.models.entities import StateSnapshot
from asap.state.metering import UsageEvent, UsageMetrics
from hypothesis import settings

from asap_native import (
    InMemoryMeteringStore,
    InMemorySnapshotStore,
    PostgresMeteringStore,
    PostgresSnapshotStore,
    SQLiteMeteringStore,
    SQLiteSnapshotStore,
    _core,
)

# A build with the bundled SQLite (wheels, make test-bundled) has its own copy of SQLite, and
# Python's sqlite3 module (and so asap-protocol's stores) another. Two copies in one process
# must not open the same database file: POSIX locks are per process, so neither copy sees the
# other's locks, and a copy closing its last connection checkpoints and deletes the WAL the
# other is still writing to (sqlite.org/howtocorrupt.html, section 2.2.1). Tests that mix the
# two on one file in one process therefore run only where both use the same library.
SAME_SQLITE_REASON = (
    "bundled SQLite: a second SQLite copy in this process (the sqlite3 module) must not open "
    "the same file (POSIX locks are per process); test_sqlite_across_processes.py covers sharing "
    "a file with sqlite3 in another process"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "same_sqlite_in_process: opens our database file with Python's sqlite3 module (or "
        "asap-protocol's stores) in this process while our store has it open",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _core.sqlite_bundled():
        return
    skip = pytest.mark.skip(reason=SAME_SQLITE_REASON)
    for item in items:
        if "same_sqlite_in_process" in item.keywords:
            item.add_marker(skip)


# Property tests gate CI, so by default they are the same on every run: examples derived from
# each test's name, no example database carried between runs. `make test-random` loads the
# "random" profile instead: fresh examples, ten times as many (see examples()).
settings.register_profile("deterministic", derandomize=True, database=None, deadline=None)
settings.register_profile("random", derandomize=False, deadline=None, print_blob=True)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "deterministic")
settings.load_profile(HYPOTHESIS_PROFILE)


def examples(count: int) -> int:
    """A property test's example budget: `count` by default, ten times it when random."""
    return count * 10 if HYPOTHESIS_PROFILE == "random" else count


UTC = timezone.utc
BASE_TIME = datetime(2024, 5, 17, 8, 0, 0, tzinfo=UTC)

_ids = itertools.count(1)


def make_snapshot(
    task_id: str = "task_1",
    version: int = 1,
    data: dict[str, Any] | None = None,
    *,
    checkpoint: bool = False,
    created_at: datetime | None = None,
    snapshot_id: str | None = None,
) -> StateSnapshot:
    """A validated asap StateSnapshot with sensible defaults."""
    return StateSnapshot(
        id=snapshot_id or f"snap_{next(_ids):06d}",
        task_id=task_id,
        version=version,
        data={"step": version} if data is None else data,
        checkpoint=checkpoint,
        created_at=created_at or BASE_TIME + timedelta(seconds=version),
    )


def make_raw_snapshot(data: Any, *, task_id: str = "task_1", version: int = 1) -> StateSnapshot:
    """An asap StateSnapshot built without validation, so ``data`` may hold anything."""
    return StateSnapshot.model_construct(
        id=f"snap_{next(_ids):06d}",
        task_id=task_id,
        version=version,
        data=data,
        checkpoint=False,
        created_at=BASE_TIME,
    )


def make_event(
    agent_id: str = "agent_1",
    timestamp: datetime | None = None,
    *,
    task_id: str = "task_1",
    consumer_id: str = "consumer_1",
    tokens_in: int = 10,
    tokens_out: int = 20,
    duration_ms: int = 30,
    api_calls: int = 1,
) -> UsageEvent:
    """A validated asap UsageEvent."""
    metrics = UsageMetrics(
        tokens_in=tokens_in, tokens_out=tokens_out, duration_ms=duration_ms, api_calls=api_calls
    )
    return UsageEvent(
        task_id=task_id,
        agent_id=agent_id,
        consumer_id=consumer_id,
        metrics=metrics,
        timestamp=timestamp or BASE_TIME,
    )


def assert_same_snapshot(got: Any, expected: Any) -> None:
    """Every field equal, and data keys in the same order."""
    assert got is not None
    assert got.id == expected.id
    assert got.task_id == expected.task_id
    assert got.version == expected.version
    assert got.checkpoint == expected.checkpoint
    assert got.created_at == expected.created_at
    assert got.created_at.utcoffset() == expected.created_at.utcoffset()
    assert got.data == expected.data
    assert list(got.data) == list(expected.data)


def assert_same_event(got: Any, expected: Any) -> None:
    assert got.task_id == expected.task_id
    assert got.agent_id == expected.agent_id
    assert got.consumer_id == expected.consumer_id
    assert got.timestamp == expected.timestamp
    for name in ("tokens_in", "tokens_out", "duration_ms", "api_calls"):
        assert getattr(got.metrics, name) == getattr(expected.metrics, name), name


def assert_usable(store: Any) -> None:
    """The store still saves and reads back after an error."""
    probe = make_snapshot("usable_probe", 1, {"ok": True})
    store.save(probe)
    assert_same_snapshot(store.get("usable_probe"), probe)
    assert store.delete("usable_probe") is True


def assert_satisfies_protocol(obj: Any, protocol: type) -> None:
    """``isinstance(obj, protocol)``, plus the same method signatures.

    asap-protocol marks ``SnapshotStore`` with ``warnings.deprecated``. Python >= 3.12 records a
    protocol's members when the class is created, before that decorator adds
    ``__deprecated__``/``__init_subclass__``; on older Pythons (this venv backports the
    decorator from typing_extensions) those two count as members too, so isinstance is False
    even for asap's own stores. There the members are checked as 3.12 would see them.
    """
    members = {
        name
        for name, value in vars(protocol).items()
        if not name.startswith("_") and inspect.isfunction(value)
    }
    assert members, protocol
    if sys.version_info >= (3, 12) or "__deprecated__" not in vars(protocol):
        assert isinstance(obj, protocol)
    for name in members:
        method = getattr(obj, name, None)
        assert callable(method), name
        expected = inspect.signature(getattr(protocol, name))
        got = inspect.signature(method)
        assert list(got.parameters) == [p for p in expected.parameters if p != "self"], name
        for param in got.parameters.values():
            wanted = expected.parameters[param.name]
            assert param.default == wanted.default, (name, param.name)
        assert inspect.iscoroutinefunction(method) == inspect.iscoroutinefunction(
            getattr(protocol, name)
        ), name


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def sqlite_rows(path: str | os.PathLike[str], sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """What ``sql`` reads from the SQLite file ``path``, through Python's sqlite3."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, params).fetchall()


SNAPSHOT_KINDS = ["sqlite-file", "sqlite-memory", "memory", "postgres"]
StoreOpener = Callable[[str, Path], Any]


def _opener(sqlite_class: Any, memory_class: Any, postgres_class: Any) -> StoreOpener:
    """What opens a store of this family, of a kind of SNAPSHOT_KINDS, on a path."""

    def open_store(kind: str, path: Path) -> Any:
        if kind == "postgres":  # a schema per path on the session's cluster (_postgres.py)
            return postgres_class(schema_for(path).dsn)
        if kind == "sqlite-file":
            return sqlite_class(path)
        if kind == "sqlite-memory":
            return sqlite_class(":memory:")
        return memory_class()

    return open_store


open_snapshot_store = _opener(SQLiteSnapshotStore, InMemorySnapshotStore, PostgresSnapshotStore)
open_metering_store = _opener(SQLiteMeteringStore, InMemoryMeteringStore, PostgresMeteringStore)


@pytest.fixture(params=SNAPSHOT_KINDS)
def snapshot_store(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Any]:
    """Every snapshot store implementation."""
    store = open_snapshot_store(request.param, db_path)
    yield store
    store.close()


@pytest.fixture(params=["sqlite-file", "sqlite-memory"])
def sqlite_snapshot_store(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Any]:
    store = open_snapshot_store(request.param, db_path)
    yield store
    store.close()


@pytest.fixture(params=SNAPSHOT_KINDS)
def metering_store(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Any]:
    """Every metering store implementation."""
    store = open_metering_store(request.param, db_path)
    yield store
    store.close()
