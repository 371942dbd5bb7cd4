"""Snapshot stores: SQLite (persistent) and in-memory, sync and awaitable, with asap-protocol's API.

``SQLiteSnapshotStore`` and ``SQLiteAsyncSnapshotStore`` read and write the same ``snapshots``
table as asap-protocol's stores, so either side can open the other's database file. Sync calls
run in C++ on the calling thread with the GIL released; awaited calls run on the store's C++
threads (see :mod:`asap_native.loop_bridge`). No thread, event loop or connection is created
per call.

Cancelling an awaited write does not withdraw it: once submitted, the write is committed (or
fails) as if it had been awaited; only its result is dropped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic

from asap_native import _core
from asap_native._store_base import (
    DEFAULT_DB_PATH,
    Durability,
    SQLiteFile,
    StoreBase,
)
from asap_native.loop_bridge import call_queued
from asap_native.maintenance import AsyncSnapshotMaintenance, SnapshotMaintenance
from asap_native.models import SnapshotLike, SnapshotT
from asap_native.repository import SQLiteRepositoryMethods

if TYPE_CHECKING:
    from asap_native.postgres import PostgresAsyncSnapshotStore, PostgresSnapshotStore

__all__ = [
    "ASAP_STORAGE_BACKEND_ENV",
    "ASAP_STORAGE_PATH_ENV",
    "ASAP_STORAGE_URL_ENV",
    "DEFAULT_DB_PATH",
    "AsyncInMemorySnapshotStore",
    "Durability",
    "InMemorySnapshotStore",
    "SQLiteAsyncSnapshotStore",
    "SQLiteSnapshotStore",
    "create_async_snapshot_store",
    "create_snapshot_store",
]

ASAP_STORAGE_BACKEND_ENV = "ASAP_STORAGE_BACKEND"
ASAP_STORAGE_PATH_ENV = "ASAP_STORAGE_PATH"
# The PostgreSQL backend (asap_native only): ASAP_STORAGE_BACKEND=postgresql and the server in
# ASAP_STORAGE_URL (a postgresql:// URL or a libpq connection string).
ASAP_STORAGE_URL_ENV = "ASAP_STORAGE_URL"
POSTGRES_BACKEND = "postgresql"


def _storage_url() -> str:
    url = os.environ.get(ASAP_STORAGE_URL_ENV, "").strip()
    if not url:
        raise ValueError(
            f"{ASAP_STORAGE_BACKEND_ENV}={POSTGRES_BACKEND!r} needs {ASAP_STORAGE_URL_ENV} "
            "(postgresql://user:password@host:5432/dbname, or a libpq connection string)"
        )
    return url


_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _plain(task_id: object, version: object) -> bool:
    """A str task id and no version or an int64 one: the keys the native calls take."""
    return type(task_id) is str and (
        version is None or (type(version) is int and _INT64_MIN <= version <= _INT64_MAX)
    )


class _SnapshotStore(StoreBase, Generic[SnapshotT]):
    """A store on a native SnapshotStore.

    Keys of other types (``get(123)``, ``get("t", 1.0)``) are looked up as asap-protocol's
    store of the same kind looks them up: by its SQL for the SQLite stores, by Python
    equality for the in-memory ones.
    """

    _native: _core.NativeSnapshotStore[SnapshotT]

    def _save(self, snapshot: SnapshotLike) -> None:
        self._native.save(snapshot)

    def _get(self, task_id: Any, version: Any) -> SnapshotT | None:
        if _plain(task_id, version):
            return self._native.get(task_id, version)
        return self._other_get(task_id, version)

    def _list_versions(self, task_id: Any) -> list[int]:
        if type(task_id) is str:
            return self._native.list_versions(task_id)
        return self._other_list(task_id)

    def _delete(self, task_id: Any, version: Any) -> bool:
        if _plain(task_id, version):
            return self._native.delete(task_id, version)
        return self._other_delete(task_id, version)

    def _other_get(self, task_id: Any, version: Any) -> SnapshotT | None:
        raise NotImplementedError

    def _other_list(self, task_id: Any) -> list[int]:
        raise NotImplementedError

    def _other_delete(self, task_id: Any, version: Any) -> bool:
        raise NotImplementedError

    async def _other_get_queued(self, task_id: Any, version: Any) -> SnapshotT | None:
        return self._other_get(task_id, version)

    async def _other_list_queued(self, task_id: Any) -> list[int]:
        return self._other_list(task_id)

    async def _other_delete_queued(self, task_id: Any, version: Any) -> bool:
        return self._other_delete(task_id, version)


# The awaitable calls, written once: _AsyncVariants names them ``*_async`` and _QueuedCalls
# gives them the plain names (``self`` typed so that each store keeps its snapshot type).
async def _save_queued(self: _SnapshotStore[Any], snapshot: SnapshotLike) -> None:
    """Save a snapshot on the store's threads; returns once the write is committed."""
    await call_queued(self._native.save_queued, snapshot)


async def _get_queued(
    self: _SnapshotStore[SnapshotT], task_id: str, version: int | None = None
) -> SnapshotT | None:
    """Retrieve a snapshot (``version`` None means latest); None if absent."""
    if _plain(task_id, version):
        return await call_queued(self._native.get_queued, task_id, version)
    return await self._other_get_queued(task_id, version)


async def _list_versions_queued(self: _SnapshotStore[Any], task_id: str) -> list[int]:
    """List the version numbers of ``task_id`` in ascending order."""
    if type(task_id) is str:
        return await call_queued(self._native.list_versions_queued, task_id)
    return await self._other_list_queued(task_id)


async def _delete_queued(
    self: _SnapshotStore[Any], task_id: str, version: int | None = None
) -> bool:
    """Delete one version, or every version when ``version`` is None; returns once
    committed, True if any went."""
    if _plain(task_id, version):
        return await call_queued(self._native.delete_queued, task_id, version)
    return await self._other_delete_queued(task_id, version)


# asap-protocol's SQL, for keys of other types: SQLite compares them as asap's store does.
_GET_BY_VERSION_SQL = (
    "SELECT task_id, id, version, data, checkpoint, created_at FROM snapshots "
    "WHERE task_id = ? AND version = ?"
)
_GET_LATEST_SQL = (
    "SELECT task_id, id, version, data, checkpoint, created_at FROM snapshots "
    "WHERE task_id = ? ORDER BY version DESC LIMIT 1"
)
_LIST_VERSIONS_SQL = "SELECT version FROM snapshots WHERE task_id = ? ORDER BY version"
_DELETE_VERSION_SQL = "DELETE FROM snapshots WHERE task_id = ? AND version = ?"
_DELETE_TASK_SQL = "DELETE FROM snapshots WHERE task_id = ?"


def _get_sql(task_id: Any, version: Any) -> tuple[str, tuple[Any, ...]]:
    if version is not None:
        return _GET_BY_VERSION_SQL, (task_id, version)
    return _GET_LATEST_SQL, (task_id,)


def _delete_sql(task_id: Any, version: Any) -> tuple[str, tuple[Any, ...]]:
    if version is not None:
        return _DELETE_VERSION_SQL, (task_id, version)
    return _DELETE_TASK_SQL, (task_id,)


def _snapshot_of_row(row: tuple[Any, ...]) -> Any:
    task_id, id_, version, data, checkpoint, created_at = row
    return _core.snapshot_from_row(task_id, id_, version, data, bool(checkpoint), created_at)


class _SQLiteSnapshots(SQLiteFile, SQLiteRepositoryMethods, _SnapshotStore[SnapshotT]):
    _open_native = staticmethod(_core.open_sqlite_snapshot_store)

    def _other_get(self, task_id: Any, version: Any) -> SnapshotT | None:
        rows = self._sql._native.fetch(*_get_sql(task_id, version))[1]
        return _snapshot_of_row(rows[0]) if rows else None

    def _other_list(self, task_id: Any) -> list[int]:
        return [row[0] for row in self._sql._native.fetch(_LIST_VERSIONS_SQL, (task_id,))[1]]

    def _other_delete(self, task_id: Any, version: Any) -> bool:
        return bool(self._sql._native.execute(*_delete_sql(task_id, version))[2] > 0)

    async def _other_get_queued(self, task_id: Any, version: Any) -> SnapshotT | None:
        rows = await self._sql.fetch_all(*_get_sql(task_id, version))
        return _snapshot_of_row(rows[0]) if rows else None

    async def _other_list_queued(self, task_id: Any) -> list[int]:
        return [row[0] for row in await self._sql.fetch_all(_LIST_VERSIONS_SQL, (task_id,))]

    async def _other_delete_queued(self, task_id: Any, version: Any) -> bool:
        return await self._sql.execute(*_delete_sql(task_id, version)) > 0


class _InMemorySnapshots(_SnapshotStore[SnapshotT]):
    """Keys as asap's in-memory stores (dicts of dicts) find them: the task id by hash and
    equality (only str task ids are ever stored), then the version the same way among the
    task's versions (``1.0`` and ``True`` find version 1); an unhashable key raises TypeError
    where the dict lookup would. A str the store cannot hold (a lone surrogate) finds
    nothing."""

    def __init__(self) -> None:
        self._native = _core.open_memory_snapshot_store()

    def _get(self, task_id: Any, version: Any) -> SnapshotT | None:
        try:
            return super()._get(task_id, version)
        except UnicodeEncodeError:
            return None

    def _list_versions(self, task_id: Any) -> list[int]:
        try:
            return super()._list_versions(task_id)
        except UnicodeEncodeError:
            return []

    def _delete(self, task_id: Any, version: Any) -> bool:
        try:
            return super()._delete(task_id, version)
        except UnicodeEncodeError:
            return False

    def _stored_key(self, task_id: Any, version: Any) -> tuple[str, int | None] | None:
        """The stored (task id, version) a dict lookup with these keys finds, if any."""
        hash(task_id)
        if not isinstance(task_id, str):
            return None
        task = str.__str__(task_id)
        versions = self._native.list_versions(task)
        if not versions:
            return None
        if version is None:
            return task, None
        wanted = hash(version)
        for stored in versions:
            if hash(stored) == wanted and stored == version:
                return task, stored
        return None

    def _other_get(self, task_id: Any, version: Any) -> SnapshotT | None:
        key = self._stored_key(task_id, version)
        return None if key is None else self._native.get(*key)

    def _other_list(self, task_id: Any) -> list[int]:
        key = self._stored_key(task_id, None)
        return [] if key is None else self._native.list_versions(key[0])

    def _other_delete(self, task_id: Any, version: Any) -> bool:
        key = self._stored_key(task_id, version)
        return False if key is None else self._native.delete(*key)


class _SyncCalls(_SnapshotStore[SnapshotT]):
    """The synchronous SnapshotStore methods."""

    def save(self, snapshot: SnapshotLike) -> None:
        """Save a snapshot, replacing any stored one with the same task_id and version.

        Accepts asap's ``StateSnapshot`` or any object with its attributes. ``data`` must be a
        dict that JSON can hold, or one of the types with a defined encoding (see the README);
        anything else raises TypeError/ValueError naming the offending path, and nothing is
        written.
        """
        self._save(snapshot)

    def get(self, task_id: str, version: int | None = None) -> SnapshotT | None:
        """Return the given version, or the latest when ``version`` is None; None if absent."""
        return self._get(task_id, version)

    def list_versions(self, task_id: str) -> list[int]:
        """Return the task's stored versions in ascending order."""
        return self._list_versions(task_id)

    def delete(self, task_id: str, version: int | None = None) -> bool:
        """Delete one version, or every version when ``version`` is None; True if any went."""
        return self._delete(task_id, version)


class _AsyncVariants(_SnapshotStore[SnapshotT]):
    """The awaitable ``*_async`` variants of the sync methods (store threads, group commit)."""

    save_async = _save_queued
    get_async = _get_queued
    list_versions_async = _list_versions_queued
    delete_async = _delete_queued


class _QueuedCalls(_SnapshotStore[SnapshotT]):
    """The AsyncSnapshotStore methods: coroutines run on the store's threads."""

    save = _save_queued
    get = _get_queued
    list_versions = _list_versions_queued
    delete = _delete_queued


class SQLiteSnapshotStore(
    _SyncCalls[SnapshotT],
    _AsyncVariants[SnapshotT],
    SnapshotMaintenance,
    _SQLiteSnapshots[SnapshotT],
):
    """Persistent :class:`~asap.state.snapshot.SnapshotStore` on a SQLite file.

    The sync methods run on the calling thread with the GIL released; ``save_async`` and its
    siblings are the awaitable versions (group-committed on the store's own threads).

    Args:
        db_path: Database file (created, readable by its owner only, if missing) or
            ``":memory:"``. Defaults to ``asap_state.db`` as in asap-protocol.
        durability: ``"normal"`` (``PRAGMA synchronous=NORMAL``: commits survive a process
            crash) or ``"full"`` (``synchronous=FULL``: they also survive power loss).
        timeout: Seconds to wait for another connection's lock before raising
            :class:`~asap_native.errors.DatabaseLockedError`.

    Raises:
        FileNotFoundError, IsADirectoryError, PermissionError: ``db_path`` cannot be used
            (each also a ``sqlite3.OperationalError``, as asap-protocol raises).
        asap_native.errors.StoreError: SQLite refused the file (not a database, read-only...).
    """


class SQLiteAsyncSnapshotStore(
    _QueuedCalls[SnapshotT], AsyncSnapshotMaintenance, _SQLiteSnapshots[SnapshotT]
):
    """Persistent :class:`~asap.state.snapshot.AsyncSnapshotStore` on a SQLite file.

    Every method is a coroutine; its SQLite work runs on the store's C++ threads and
    concurrent writes are committed together (group commit). An awaited ``save`` returns
    only once its write is committed, so any reader, in any thread or process, sees it.
    Arguments as for :class:`SQLiteSnapshotStore`.
    """


class InMemorySnapshotStore(_SyncCalls[SnapshotT], _InMemorySnapshots[SnapshotT]):
    """:class:`~asap.state.snapshot.SnapshotStore` held in process memory (for tests).

    Data is stored as JSON text, exactly as the SQLite store keeps it, so ``get`` returns a
    fresh copy and the same encoding rules apply (asap-protocol's returns the very object
    saved: ``install()`` leaves asap's in-memory stores in place unless asked).
    """

    def __repr__(self) -> str:
        return "InMemorySnapshotStore()"


class AsyncInMemorySnapshotStore(_InMemorySnapshots[SnapshotT]):
    """:class:`~asap.state.snapshot.AsyncSnapshotStore` held in process memory (for tests).

    Operations take microseconds and never wait on I/O, so they run inline.
    """

    async def save(self, snapshot: SnapshotLike) -> None:
        """Save a snapshot to the in-memory store."""
        self._save(snapshot)

    async def get(self, task_id: str, version: int | None = None) -> SnapshotT | None:
        """Retrieve a snapshot; ``version`` None means latest."""
        return self._get(task_id, version)

    async def list_versions(self, task_id: str) -> list[int]:
        """List version numbers in ascending order."""
        return self._list_versions(task_id)

    async def delete(self, task_id: str, version: int | None = None) -> bool:
        """Delete one version or all snapshots for ``task_id``."""
        return self._delete(task_id, version)

    def __repr__(self) -> str:
        return "AsyncInMemorySnapshotStore()"


def create_snapshot_store() -> (
    SQLiteSnapshotStore[Any] | InMemorySnapshotStore[Any] | PostgresSnapshotStore[Any]
):
    """Create a snapshot store from the environment, as asap-protocol's factory does.

    Reads ``ASAP_STORAGE_BACKEND`` (default ``"memory"``) and ``ASAP_STORAGE_PATH`` (default
    ``"asap_state.db"``, used by ``"sqlite"``). ``ASAP_STORAGE_BACKEND=postgresql`` (asap_native
    only) opens a :class:`~asap_native.PostgresSnapshotStore` on ``ASAP_STORAGE_URL``.

    Raises:
        ValueError: ``ASAP_STORAGE_BACKEND`` is not ``"memory"``, ``"sqlite"`` or
            ``"postgresql"``, or ``"postgresql"`` without ``ASAP_STORAGE_URL``.
    """
    backend = os.environ.get(ASAP_STORAGE_BACKEND_ENV, "memory").strip().lower()
    path = os.environ.get(ASAP_STORAGE_PATH_ENV, DEFAULT_DB_PATH).strip()
    if backend == "memory":
        return InMemorySnapshotStore()
    if backend == "sqlite":
        return SQLiteSnapshotStore(db_path=Path(path))
    if backend == POSTGRES_BACKEND:
        from asap_native.postgres import PostgresSnapshotStore

        return PostgresSnapshotStore(_storage_url())
    raise ValueError(f"Unknown {ASAP_STORAGE_BACKEND_ENV}={backend!r}. Use 'memory' or 'sqlite'.")


class _DefaultBackend(str):
    """The default ``backend`` of create_async_snapshot_store: equal to ``"sqlite"`` (the
    signature stays asap-protocol's), but recognisable, so that a call that names no backend
    can follow ``ASAP_STORAGE_BACKEND=postgresql``."""

    __slots__ = ()


_SQLITE_BY_DEFAULT = _DefaultBackend("sqlite")


def requests_postgres(backend: object = None) -> bool:
    """Whether a factory call with this ``backend`` (None: none given) means PostgreSQL."""
    if backend is None or backend is _SQLITE_BY_DEFAULT:
        backend = os.environ.get(ASAP_STORAGE_BACKEND_ENV, "")
    return isinstance(backend, str) and backend.strip().lower() == POSTGRES_BACKEND


def create_async_snapshot_store(
    backend: str = _SQLITE_BY_DEFAULT,
    *,
    db_path: str | os.PathLike[str] | None = None,
) -> (
    SQLiteAsyncSnapshotStore[Any]
    | AsyncInMemorySnapshotStore[Any]
    | PostgresAsyncSnapshotStore[Any]
):
    """Build an awaitable snapshot store (default ``sqlite``; ``memory`` for tests).

    ``db_path`` applies to sqlite only; if omitted, uses ``ASAP_STORAGE_PATH`` or
    ``asap_state.db``, as asap-protocol does. ``"postgresql"`` (asap_native only) opens a
    :class:`~asap_native.PostgresAsyncSnapshotStore` on ``ASAP_STORAGE_URL``; it is also what
    a call without ``backend`` gets when ``ASAP_STORAGE_BACKEND`` is ``postgresql`` (otherwise
    ``sqlite``, whatever ``ASAP_STORAGE_BACKEND`` says, as asap-protocol does).

    Raises:
        ValueError: ``backend`` is not ``"memory"``, ``"sqlite"`` or ``"postgresql"``, or
            ``"postgresql"`` without ``ASAP_STORAGE_URL``.
    """
    if requests_postgres(backend):
        from asap_native.postgres import PostgresAsyncSnapshotStore

        return PostgresAsyncSnapshotStore(_storage_url())
    key = backend.strip().lower()
    if key == "memory":
        return AsyncInMemorySnapshotStore()
    if key == "sqlite":
        path = (
            Path(db_path)
            if db_path is not None
            else Path(os.environ.get(ASAP_STORAGE_PATH_ENV, DEFAULT_DB_PATH).strip())
        )
        return SQLiteAsyncSnapshotStore(db_path=path)
    raise ValueError(
        f"Unknown async snapshot backend {backend!r}. Use 'memory' or 'sqlite'.",
    )
