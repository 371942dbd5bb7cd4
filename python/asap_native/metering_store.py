"""Metering stores: SQLite (persistent) and in-memory, with asap-protocol's API.

``record``/``query``/``aggregate`` are coroutines, as in asap-protocol; ``record_sync``,
``query_sync`` and ``aggregate_sync`` do the same work synchronously. Time windows compare
instants: an event stamped 10:30+02:00 lies inside 08:00Z..09:00Z. A naive datetime is read
as UTC.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asap_native import _core
from asap_native.models import usage_aggregate_factory, usage_event_factory
from asap_native.snapshot_store import DEFAULT_DB_PATH, Durability, _check_options

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["InMemoryMeteringStore", "SQLiteMeteringStore"]


class _MeteringStoreBase:
    """Metering API shared by the SQLite and in-memory stores."""

    _native: Any

    def record_sync(self, event: Any) -> None:
        """Record a usage event (asap's ``UsageEvent`` or any object with its attributes)."""
        self._native.record(event)

    def query_sync(
        self,
        agent_id: str,
        start: datetime,
        end: datetime,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Any]:
        """Events of ``agent_id`` in [start, end], oldest first, paged by offset/limit.

        Raises:
            ValueError: ``offset`` or ``limit`` is negative.
        """
        build = usage_event_factory()
        return [build(row) for row in self._native.query(agent_id, start, end, limit, offset)]

    def aggregate_sync(self, agent_id: str, period: str) -> Any:
        """Totals over every event of ``agent_id`` (``period`` is carried through, as in asap)."""
        return usage_aggregate_factory()(self._native.aggregate(agent_id, period))

    async def record(self, event: Any) -> None:
        """Record a usage event."""
        self.record_sync(event)

    async def query(
        self,
        agent_id: str,
        start: datetime,
        end: datetime,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Any]:
        """Query events in range (see :meth:`query_sync`)."""
        return self.query_sync(agent_id, start, end, limit, offset)

    async def aggregate(self, agent_id: str, period: str) -> Any:
        """Aggregate usage for agent (see :meth:`aggregate_sync`)."""
        return self.aggregate_sync(agent_id, period)

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


class SQLiteMeteringStore(_MeteringStoreBase):
    """Persistent :class:`~asap.state.metering.AsyncMeteringStore` on a SQLite file.

    Uses asap-protocol's ``usage_events`` table and both of its indexes; it may share a file
    with a :class:`~asap_native.SQLiteSnapshotStore`. Arguments as for that class.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] = DEFAULT_DB_PATH,
        *,
        durability: Durability = "normal",
        timeout: float = 15.0,
    ) -> None:
        durability_text, seconds = _check_options(durability, timeout)
        self._db_path = Path(db_path)
        self._native = _core.open_sqlite_metering_store(db_path, durability_text, seconds)

    @property
    def db_path(self) -> Path:
        """The database file this store uses."""
        return self._db_path

    def __repr__(self) -> str:
        return f"SQLiteMeteringStore(db_path={str(self._db_path)!r})"


class InMemoryMeteringStore(_MeteringStoreBase):
    """:class:`~asap.state.metering.AsyncMeteringStore` held in process memory (for tests)."""

    def __init__(self) -> None:
        self._native = _core.open_memory_metering_store()

    def __repr__(self) -> str:
        return "InMemoryMeteringStore()"
