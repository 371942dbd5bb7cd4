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
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from asap_native import _core
from asap_native.loop_bridge import call_queued

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = [
    "ASAP_STORAGE_BACKEND_ENV",
    "ASAP_STORAGE_PATH_ENV",
    "DEFAULT_DB_PATH",
    "AsyncInMemorySnapshotStore",
    "Durability",
    "InMemorySnapshotStore",
    "SQLiteAsyncSnapshotStore",
    "SQLiteSnapshotStore",
    "create_async_snapshot_store",
    "create_snapshot_store",
]

DEFAULT_DB_PATH = "asap_state.db"
ASAP_STORAGE_BACKEND_ENV = "ASAP_STORAGE_BACKEND"
ASAP_STORAGE_PATH_ENV = "ASAP_STORAGE_PATH"

Durability = Literal["normal", "full"]


def _check_options(durability: object, timeout: object) -> tuple[str, float]:
    if not isinstance(durability, str):
        raise TypeError(f"durability must be 'normal' or 'full', not {type(durability).__name__}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    return durability, float(timeout)


class _Closable:
    """close(), ``with`` and ``async with`` for every store."""

    _native: Any

    def close(self) -> None:
        """Wait for queued work, then close; later calls raise StoreClosedError."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return bool(self._native.closed)

    def stats(self) -> dict[str, Any]:
        """Figures for monitoring, cheap enough to poll from any thread.

        ``operations``: per kind (save, get, list_versions, delete, record, query, aggregate),
        ``count``, ``errors`` and ``latency_ms`` (``p50``, ``p99``, ``max``; awaited calls
        count from submission to completion). ``errors``: failures by kind (``busy``,
        ``read_only``, ``invalid_argument``...). ``busy_waits``: calls that had to wait for
        another connection's lock. ``group_commit``: ``batches``, ``writes``,
        ``largest_batch`` and ``batch_size`` percentiles of the awaitable API.
        """
        figures: dict[str, Any] = self._native.stats()
        return figures

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _SQLiteOpener(_Closable):
    """Opens the native SQLite store; closes it at interpreter exit or collection."""

    def _open(self, db_path: str | os.PathLike[str], durability: object, timeout: object) -> None:
        durability_text, seconds = _check_options(durability, timeout)
        self._db_path = Path(db_path)
        self._native = _core.open_sqlite_snapshot_store(db_path, durability_text, seconds)
        # Runs at garbage collection or, at the latest, at interpreter exit: queued writes
        # are committed before the threads stop.
        self._finalizer = weakref.finalize(self, self._native.close)

    @property
    def db_path(self) -> Path:
        """The database file this store uses."""
        return self._db_path

    def __repr__(self) -> str:
        return f"{type(self).__name__}(db_path={str(self._db_path)!r})"


class _SyncSnapshotAPI:
    """The synchronous SnapshotStore methods."""

    _native: Any

    def save(self, snapshot: Any) -> None:
        """Save a snapshot, replacing any stored one with the same task_id and version.

        Accepts asap's ``StateSnapshot`` or any object with its attributes. ``data`` must be a
        dict that JSON can hold, or one of the types with a defined encoding (see the README);
        anything else raises TypeError/ValueError naming the offending path, and nothing is
        written.
        """
        self._native.save(snapshot)

    def get(self, task_id: str, version: int | None = None) -> Any:
        """Return the given version, or the latest when ``version`` is None; None if absent."""
        return self._native.get(task_id, version)

    def list_versions(self, task_id: str) -> list[int]:
        """Return the task's stored versions in ascending order."""
        return self._native.list_versions(task_id)  # type: ignore[no-any-return]

    def delete(self, task_id: str, version: int | None = None) -> bool:
        """Delete one version, or every version when ``version`` is None; True if any went."""
        return self._native.delete(task_id, version)  # type: ignore[no-any-return]


class SQLiteSnapshotStore(_SyncSnapshotAPI, _SQLiteOpener):
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
        FileNotFoundError, IsADirectoryError, PermissionError: ``db_path`` cannot be used.
        asap_native.errors.StoreError: SQLite refused the file (not a database, read-only...).
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] = DEFAULT_DB_PATH,
        *,
        durability: Durability = "normal",
        timeout: float = 15.0,
    ) -> None:
        self._open(db_path, durability, timeout)

    async def save_async(self, snapshot: Any) -> None:
        """Awaitable :meth:`save`; returns once the write is committed."""
        await call_queued(self._native.save_queued, snapshot)

    async def get_async(self, task_id: str, version: int | None = None) -> Any:
        """Awaitable :meth:`get`."""
        return await call_queued(self._native.get_queued, task_id, version)

    async def list_versions_async(self, task_id: str) -> list[int]:
        """Awaitable :meth:`list_versions`."""
        result: list[int] = await call_queued(self._native.list_versions_queued, task_id)
        return result

    async def delete_async(self, task_id: str, version: int | None = None) -> bool:
        """Awaitable :meth:`delete`; returns once the delete is committed."""
        result: bool = await call_queued(self._native.delete_queued, task_id, version)
        return result


class SQLiteAsyncSnapshotStore(_SQLiteOpener):
    """Persistent :class:`~asap.state.snapshot.AsyncSnapshotStore` on a SQLite file.

    Every method is a coroutine; its SQLite work runs on the store's C++ threads and
    concurrent writes are committed together (group commit). An awaited ``save`` returns
    only once its write is committed, so any reader, in any thread or process, sees it.
    Arguments as for :class:`SQLiteSnapshotStore`.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] = DEFAULT_DB_PATH,
        *,
        durability: Durability = "normal",
        timeout: float = 15.0,
    ) -> None:
        self._open(db_path, durability, timeout)

    # asap-protocol's async names for the same coroutines as SQLiteSnapshotStore's *_async.
    save = SQLiteSnapshotStore.save_async
    get = SQLiteSnapshotStore.get_async
    list_versions = SQLiteSnapshotStore.list_versions_async
    delete = SQLiteSnapshotStore.delete_async


class InMemorySnapshotStore(_SyncSnapshotAPI, _Closable):
    """:class:`~asap.state.snapshot.SnapshotStore` held in process memory (for tests).

    Data is stored as JSON text, exactly as the SQLite store keeps it, so ``get`` returns a
    fresh copy and the same encoding rules apply.
    """

    def __init__(self) -> None:
        self._native = _core.open_memory_snapshot_store()

    def __repr__(self) -> str:
        return "InMemorySnapshotStore()"


class AsyncInMemorySnapshotStore(_Closable):
    """:class:`~asap.state.snapshot.AsyncSnapshotStore` held in process memory (for tests).

    Operations take microseconds and never wait on I/O, so they run inline.
    """

    def __init__(self) -> None:
        self._native = _core.open_memory_snapshot_store()

    async def save(self, snapshot: Any) -> None:
        """Save a snapshot to the in-memory store."""
        self._native.save(snapshot)

    async def get(self, task_id: str, version: int | None = None) -> Any:
        """Retrieve a snapshot; ``version`` None means latest."""
        return self._native.get(task_id, version)

    async def list_versions(self, task_id: str) -> list[int]:
        """List version numbers in ascending order."""
        return self._native.list_versions(task_id)  # type: ignore[no-any-return]

    async def delete(self, task_id: str, version: int | None = None) -> bool:
        """Delete one version or all snapshots for ``task_id``."""
        return self._native.delete(task_id, version)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return "AsyncInMemorySnapshotStore()"


def create_snapshot_store() -> SQLiteSnapshotStore | InMemorySnapshotStore:
    """Create a snapshot store from the environment, as asap-protocol's factory does.

    Reads ``ASAP_STORAGE_BACKEND`` (default ``"memory"``) and ``ASAP_STORAGE_PATH`` (default
    ``"asap_state.db"``, used by ``"sqlite"``).

    Raises:
        ValueError: ``ASAP_STORAGE_BACKEND`` is neither ``"memory"`` nor ``"sqlite"``.
    """
    backend = os.environ.get(ASAP_STORAGE_BACKEND_ENV, "memory").strip().lower()
    path = os.environ.get(ASAP_STORAGE_PATH_ENV, DEFAULT_DB_PATH).strip()
    if backend == "memory":
        return InMemorySnapshotStore()
    if backend == "sqlite":
        return SQLiteSnapshotStore(db_path=Path(path))
    raise ValueError(f"Unknown {ASAP_STORAGE_BACKEND_ENV}={backend!r}. Use 'memory' or 'sqlite'.")


def create_async_snapshot_store(
    backend: str = "sqlite",
    *,
    db_path: str | os.PathLike[str] | None = None,
) -> SQLiteAsyncSnapshotStore | AsyncInMemorySnapshotStore:
    """Build an awaitable snapshot store (default ``sqlite``; ``memory`` for tests).

    ``db_path`` applies to sqlite only; if omitted, uses ``ASAP_STORAGE_PATH`` or
    ``asap_state.db``, as asap-protocol does.

    Raises:
        ValueError: ``backend`` is neither ``"memory"`` nor ``"sqlite"``.
    """
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
