"""PostgreSQL stores: the SQLite stores' API on a database server that several hosts share.

``PostgresSnapshotStore``, ``PostgresAsyncSnapshotStore`` and ``PostgresMeteringStore`` have the
methods, results and exceptions of ``SQLiteSnapshotStore``, ``SQLiteAsyncSnapshotStore`` and
``SQLiteMeteringStore``; only where the data lives changes. The work runs in C++ over libpq:
sync calls on the calling thread (GIL released) on a pooled connection, awaited calls on the
store's threads, concurrent writes committed together in one pipelined transaction (group
commit), results handed to the event loop in batches. See docs/scaling.md for what each backend
promises and how to move from one to the other (:mod:`asap_native.transfer`).

``dsn`` is a libpq connection string (``"host=db.internal dbname=asap user=agent"``) or a
``postgresql://`` URL; TLS (``sslmode=verify-full``, ``sslrootcert``...), passwords (or
``~/.pgpass``, ``PGPASSWORD``) and several hosts with ``target_session_attrs=read-write`` are
libpq's. The DSN is never logged, and ``repr()`` shows only host, port, database and user.
"""

from __future__ import annotations

from typing import Any

from asap_native import _core
from asap_native._store_base import StoreBase, at_least_one, seconds
from asap_native.metering_store import _MeteringStore
from asap_native.models import SnapshotT, UsageAggregateT, UsageEventT
from asap_native.snapshot_store import _AsyncVariants, _QueuedCalls, _SnapshotStore, _SyncCalls

__all__ = [
    "DEFAULT_TIMEOUT",
    "PostgresAsyncSnapshotStore",
    "PostgresMeteringStore",
    "PostgresSnapshotStore",
    "postgres_available",
]

DEFAULT_TIMEOUT = 15.0

#: False when the extension was built without libpq: the classes here then raise ImportError.
postgres_available: bool = _core.postgres_available


def _check_options(dsn: object, timeout: object, max_connections: object) -> tuple[float, int]:
    if not isinstance(dsn, str):
        raise TypeError(
            "dsn must be a str (a libpq connection string or a postgresql:// URL), "
            f"not {type(dsn).__name__}"
        )
    checked_timeout = seconds(timeout)
    limit = 0 if max_connections is None else at_least_one(max_connections, "max_connections")
    return checked_timeout, limit


def _key_error(task_id: object, version: object) -> Exception:
    if type(task_id) is str and isinstance(version, int) and not isinstance(version, bool):
        return OverflowError(f"version {version} does not fit in 64 bits")
    return TypeError(
        "task_id must be a str and version an int or None, not "
        f"{type(task_id).__name__} and {type(version).__name__}"
    )


class _ServerStore(StoreBase):
    """A store on a PostgreSQL server; ``_open_native`` takes (dsn, timeout, max_connections)."""

    _where: str

    def __init__(
        self,
        dsn: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int | None = None,
    ) -> None:
        seconds, connections = _check_options(dsn, timeout, max_connections)
        self._open(dsn, seconds, connections)
        self._where = _core.postgres_describe_dsn(dsn)

    @property
    def server(self) -> str:
        """Where the store connects (host, port, dbname, user): no password, safe to log."""
        return self._where

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dsn={self._where!r})"


class _PostgresSnapshots(_ServerStore, _SnapshotStore[SnapshotT]):
    _open_native = staticmethod(_core.open_postgres_snapshot_store)

    # PostgreSQL compares text with text only: other key types are the caller's mistake.
    def _other_get(self, task_id: Any, version: Any) -> SnapshotT | None:
        raise _key_error(task_id, version)

    def _other_list(self, task_id: Any) -> list[int]:
        raise _key_error(task_id, None)

    def _other_delete(self, task_id: Any, version: Any) -> bool:
        raise _key_error(task_id, version)


class PostgresSnapshotStore(
    _SyncCalls[SnapshotT], _AsyncVariants[SnapshotT], _PostgresSnapshots[SnapshotT]
):
    """Persistent :class:`~asap.state.snapshot.SnapshotStore` on PostgreSQL, shared by hosts.

    The sync methods run on the calling thread with the GIL released, one round trip each
    (a ``save`` is committed when it returns); ``save_async`` and its siblings are the
    awaitable versions, group-committed on the store's own threads.

    Args:
        dsn: libpq connection string or ``postgresql://`` URL.
        timeout: Seconds any one wait may take: connecting, and each statement (the session's
            ``statement_timeout``; past it the call raises
            :class:`~asap_native.errors.DatabaseTimeoutError`). A connection silent for this long
            plus two seconds counts as lost (:class:`~asap_native.errors.DatabaseConnectionError`).
        max_connections: Connections for calls (opened on demand; default: two per reader
            thread), plus one for group commits.

    Raises:
        ValueError: ``dsn`` cannot be parsed (the message never quotes its values).
        asap_native.errors.DatabaseConnectionError: the server cannot be reached.
        asap_native.errors.DatabaseAuthenticationError: the server refused the credentials.
        asap_native.errors.StoreError: anything else the server refused (a database that
            does not exist, a schema newer than this version knows...).
        ImportError: the extension was built without libpq.

    Tables are created on first use (``snapshots``, versioned in ``asap_native_schema``, in the
    first schema of the ``search_path``). A lost connection fails the calls that were using it
    with :class:`~asap_native.errors.DatabaseConnectionError`; later calls reconnect.
    """


class PostgresAsyncSnapshotStore(_QueuedCalls[SnapshotT], _PostgresSnapshots[SnapshotT]):
    """Persistent :class:`~asap.state.snapshot.AsyncSnapshotStore` on PostgreSQL.

    Every method is a coroutine run on the store's C++ threads; concurrent writes are committed
    together in one pipelined transaction, and an awaited ``save`` returns only once that
    transaction committed, so every host sees it. Arguments as for
    :class:`PostgresSnapshotStore`.
    """


class PostgresMeteringStore(_ServerStore, _MeteringStore[UsageEventT, UsageAggregateT]):
    """Persistent :class:`~asap.state.metering.AsyncMeteringStore` on PostgreSQL.

    ``record``/``query``/``aggregate`` are coroutines (records group-committed), with
    ``record_sync``/``query_sync``/``aggregate_sync``. Windows compare instants (a
    ``timestamptz`` column); totals are summed exactly by the server. Arguments as for
    :class:`PostgresSnapshotStore`.
    """

    _open_native = staticmethod(_core.open_postgres_metering_store)
