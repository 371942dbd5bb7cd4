"""Snapshot stores: SQLite (persistent) and in-memory, with asap-protocol's API.

``SQLiteSnapshotStore`` reads and writes the same ``snapshots`` table as asap-protocol's
store, so either can open the other's database file. Every call runs in C++ with the GIL
released; there is no thread, event loop or connection created per call.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from asap_native import _core
from asap_native.models import snapshot_factory

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = [
    "ASAP_STORAGE_BACKEND_ENV",
    "ASAP_STORAGE_PATH_ENV",
    "DEFAULT_DB_PATH",
    "Durability",
    "InMemorySnapshotStore",
    "SQLiteSnapshotStore",
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


class _SnapshotStoreBase:
    """Sync snapshot API shared by the SQLite and in-memory stores."""

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

    def close(self) -> None:
        """Close the store once calls in progress finish; later calls raise StoreClosedError."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return bool(self._native.closed)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SQLiteSnapshotStore(_SnapshotStoreBase):
    """Persistent :class:`~asap.state.snapshot.SnapshotStore` on a SQLite file.

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
        durability_text, seconds = _check_options(durability, timeout)
        self._db_path = Path(db_path) if not isinstance(db_path, Path) else db_path
        self._native = _core.open_sqlite_snapshot_store(
            db_path, durability_text, seconds, snapshot_factory()
        )

    @property
    def db_path(self) -> Path:
        """The database file this store uses."""
        return self._db_path

    def __repr__(self) -> str:
        return f"SQLiteSnapshotStore(db_path={str(self._db_path)!r})"


class InMemorySnapshotStore(_SnapshotStoreBase):
    """:class:`~asap.state.snapshot.SnapshotStore` held in process memory (for tests).

    Data is stored as JSON text, exactly as the SQLite store keeps it, so ``get`` returns a
    fresh copy and the same encoding rules apply.
    """

    def __init__(self) -> None:
        self._native = _core.open_memory_snapshot_store(snapshot_factory())

    def __repr__(self) -> str:
        return "InMemorySnapshotStore()"


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
