"""Metering stores: SQLite (persistent) and in-memory, with asap-protocol's API.

``record``/``query``/``aggregate`` are coroutines, as in asap-protocol; on the SQLite store
their work runs on the store's C++ threads (records are group-committed) and the loop never
waits on SQLite. ``record_sync``, ``query_sync`` and ``aggregate_sync`` do the same work
synchronously on the calling thread, with the GIL released. Time windows compare
instants: an event stamped 10:30+02:00 lies inside 08:00Z..09:00Z. A naive datetime is read
as UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic

from asap_native import _core
from asap_native._store_base import (
    SQLiteFile,
    StoreBase,
)
from asap_native.loop_bridge import call_queued
from asap_native.models import UsageAggregateT, UsageEventLike, UsageEventT

__all__ = ["InMemoryMeteringStore", "SQLiteMeteringStore"]


class _MeteringStore(StoreBase, Generic[UsageEventT, UsageAggregateT]):
    """Metering API shared by the SQLite and in-memory stores."""

    _native: _core.NativeMeteringStore[UsageEventT, UsageAggregateT]

    def record_sync(self, event: UsageEventLike) -> None:
        """Record a usage event (asap's ``UsageEvent`` or any object with its attributes)."""
        self._native.record(event)

    def query_sync(
        self,
        agent_id: str,
        start: datetime,
        end: datetime,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[UsageEventT]:
        """Events of ``agent_id`` in [start, end], oldest first, paged by offset/limit.

        Raises:
            ValueError: ``offset`` or ``limit`` is negative.
        """
        return self._native.query(agent_id, start, end, limit, offset)

    def aggregate_sync(self, agent_id: str, period: str) -> UsageAggregateT:
        """Totals over every event of ``agent_id`` (``period`` is carried through, as in asap).

        The totals are exact Python ints, also beyond 64 bits.
        """
        return self._native.aggregate(agent_id, period)

    # The awaitable calls take the one queued path: on the SQLite store the work runs on its
    # threads (records group-committed); the in-memory store completes them at once.
    async def record(self, event: UsageEventLike) -> None:
        """Record a usage event; returns once it is committed."""
        await call_queued(self._native.record_queued, event)

    async def query(
        self,
        agent_id: str,
        start: datetime,
        end: datetime,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[UsageEventT]:
        """Query events in range (see :meth:`query_sync`)."""
        return await call_queued(self._native.query_queued, agent_id, start, end, limit, offset)

    async def aggregate(self, agent_id: str, period: str) -> UsageAggregateT:
        """Aggregate usage for agent (see :meth:`aggregate_sync`)."""
        return await call_queued(self._native.aggregate_queued, agent_id, period)


class SQLiteMeteringStore(SQLiteFile, _MeteringStore[UsageEventT, UsageAggregateT]):
    """Persistent :class:`~asap.state.metering.AsyncMeteringStore` on a SQLite file.

    Uses asap-protocol's ``usage_events`` table and both of its indexes; it may share a file
    with a :class:`~asap_native.SQLiteSnapshotStore`. Arguments as for that class.
    """

    _open_native = staticmethod(_core.open_sqlite_metering_store)


class InMemoryMeteringStore(_MeteringStore[UsageEventT, UsageAggregateT]):
    """:class:`~asap.state.metering.AsyncMeteringStore` held in process memory (for tests)."""

    def __init__(self) -> None:
        self._native = _core.open_memory_metering_store()

    def __repr__(self) -> str:
        return "InMemoryMeteringStore()"
