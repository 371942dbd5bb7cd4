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
    check_options,
)
from asap_native.loop_bridge import call_queued
from asap_native.models import SnapshotLike, SnapshotT

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


class _SnapshotStore(StoreBase, Generic[SnapshotT]):
    """A store on a native SnapshotStore."""

    _native: _core.NativeSnapshotStore[SnapshotT]


class _SQLiteSnapshots(SQLiteFile, _SnapshotStore[SnapshotT]):
    def __init__(
        self,
        db_path: str | os.PathLike[str] = DEFAULT_DB_PATH,
        *,
        durability: Durability = "normal",
        timeout: float = 15.0,
    ) -> None:
        durability_text, seconds = check_options(durability, timeout)
        self._native = _core.open_sqlite_snapshot_store(db_path, durability_text, seconds)
        self._opened(db_path)


class _SyncCalls(_SnapshotStore[SnapshotT]):
    """The synchronous SnapshotStore methods."""

    def save(self, snapshot: SnapshotLike) -> None:
        """Save a snapshot, replacing any stored one with the same task_id and version.

        Accepts asap's ``StateSnapshot`` or any object with its attributes. ``data`` must be a
        dict that JSON can hold, or one of the types with a defined encoding (see the README);
        anything else raises TypeError/ValueError naming the offending path, and nothing is
        written.
        """
        self._native.save(snapshot)

    def get(self, task_id: str, version: int | None = None) -> SnapshotT | None:
        """Return the given version, or the latest when ``version`` is None; None if absent."""
        return self._native.get(task_id, version)

    def list_versions(self, task_id: str) -> list[int]:
        """Return the task's stored versions in ascending order."""
        return self._native.list_versions(task_id)

    def delete(self, task_id: str, version: int | None = None) -> bool:
        """Delete one version, or every version when ``version`` is None; True if any went."""
        return self._native.delete(task_id, version)


class _AsyncVariants(_SnapshotStore[SnapshotT]):
    """The awaitable ``*_async`` variants of the sync methods (store threads, group commit)."""

    async def save_async(self, snapshot: SnapshotLike) -> None:
        """Awaitable :meth:`save`; returns once the write is committed."""
        await call_queued(self._native.save_queued, snapshot)

    async def get_async(self, task_id: str, version: int | None = None) -> SnapshotT | None:
        """Awaitable :meth:`get`."""
        return await call_queued(self._native.get_queued, task_id, version)

    async def list_versions_async(self, task_id: str) -> list[int]:
        """Awaitable :meth:`list_versions`."""
        return await call_queued(self._native.list_versions_queued, task_id)

    async def delete_async(self, task_id: str, version: int | None = None) -> bool:
        """Awaitable :meth:`delete`; returns once the delete is committed."""
        return await call_queued(self._native.delete_queued, task_id, version)


class _QueuedCalls(_SnapshotStore[SnapshotT]):
    """The AsyncSnapshotStore methods: coroutines run on the store's threads."""

    async def save(self, snapshot: SnapshotLike) -> None:
        """Save a snapshot; returns once the write is committed."""
        await call_queued(self._native.save_queued, snapshot)

    async def get(self, task_id: str, version: int | None = None) -> SnapshotT | None:
        """Retrieve a snapshot; ``version`` None means latest."""
        return await call_queued(self._native.get_queued, task_id, version)

    async def list_versions(self, task_id: str) -> list[int]:
        """List version numbers for ``task_id`` in ascending order."""
        return await call_queued(self._native.list_versions_queued, task_id)

    async def delete(self, task_id: str, version: int | None = None) -> bool:
        """Delete one version or all snapshots for ``task_id``; returns once committed."""
        return await call_queued(self._native.delete_queued, task_id, version)


class SQLiteSnapshotStore(
    _SyncCalls[SnapshotT], _AsyncVariants[SnapshotT], _SQLiteSnapshots[SnapshotT]
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


class SQLiteAsyncSnapshotStore(_QueuedCalls[SnapshotT], _SQLiteSnapshots[SnapshotT]):
    """Persistent :class:`~asap.state.snapshot.AsyncSnapshotStore` on a SQLite file.

    Every method is a coroutine; its SQLite work runs on the store's C++ threads and
    concurrent writes are committed together (group commit). An awaited ``save`` returns
    only once its write is committed, so any reader, in any thread or process, sees it.
    Arguments as for :class:`SQLiteSnapshotStore`.
    """


class InMemorySnapshotStore(_SyncCalls[SnapshotT]):
    """:class:`~asap.state.snapshot.SnapshotStore` held in process memory (for tests).

    Data is stored as JSON text, exactly as the SQLite store keeps it, so ``get`` returns a
    fresh copy and the same encoding rules apply.
    """

    def __init__(self) -> None:
        self._native = _core.open_memory_snapshot_store()

    def __repr__(self) -> str:
        return "InMemorySnapshotStore()"


class AsyncInMemorySnapshotStore(_SnapshotStore[SnapshotT]):
    """:class:`~asap.state.snapshot.AsyncSnapshotStore` held in process memory (for tests).

    Operations take microseconds and never wait on I/O, so they run inline.
    """

    def __init__(self) -> None:
        self._native = _core.open_memory_snapshot_store()

    async def save(self, snapshot: SnapshotLike) -> None:
        """Save a snapshot to the in-memory store."""
        self._native.save(snapshot)

    async def get(self, task_id: str, version: int | None = None) -> SnapshotT | None:
        """Retrieve a snapshot; ``version`` None means latest."""
        return self._native.get(task_id, version)

    async def list_versions(self, task_id: str) -> list[int]:
        """List version numbers in ascending order."""
        return self._native.list_versions(task_id)

    async def delete(self, task_id: str, version: int | None = None) -> bool:
        """Delete one version or all snapshots for ``task_id``."""
        return self._native.delete(task_id, version)

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
    if backend is _SQLITE_BY_DEFAULT:
        from_env = os.environ.get(ASAP_STORAGE_BACKEND_ENV, "").strip().lower()
        backend = POSTGRES_BACKEND if from_env == POSTGRES_BACKEND else "sqlite"
    key = backend.strip().lower()
    if key == POSTGRES_BACKEND:
        from asap_native.postgres import PostgresAsyncSnapshotStore

        return PostgresAsyncSnapshotStore(_storage_url())
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
