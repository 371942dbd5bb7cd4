"""Metering stores: SQLite (persistent) and in-memory, with asap-protocol's API.

``record``/``query``/``aggregate`` are coroutines, as in asap-protocol; on the SQLite store
their work runs on the store's C++ threads (records are group-committed) and the loop never
waits on SQLite. ``record_sync``, ``query_sync`` and ``aggregate_sync`` do the same work
synchronously on the calling thread, with the GIL released. Time windows compare
instants: an event stamped 10:30+02:00 lies inside 08:00Z..09:00Z. A naive datetime is read
as UTC.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from asap_native import _core
from asap_native._store_base import (
    DEFAULT_DB_PATH,
    Durability,
    SQLiteFile,
    StoreBase,
)
from asap_native.loop_bridge import call_queued
from asap_native.maintenance import MeteringMaintenance
from asap_native.models import UsageAggregateT, UsageEventLike, UsageEventT

__all__ = ["InMemoryMeteringStore", "SQLiteMeteringStore"]


_StoreT = TypeVar("_StoreT", bound=StoreBase)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _awaitable_twin(
    sync: Callable[Concatenate[_StoreT, _P], _R], doc: str
) -> Callable[Concatenate[_StoreT, _P], Coroutine[Any, Any, _R]]:
    """The coroutine twin of ``<name>_sync``: its signature, and its arguments handed to the
    native ``<name>_queued`` call, which reads them as the sync native call does."""
    queued_name = sync.__name__.removesuffix("_sync") + "_queued"
    signature = inspect.signature(sync)
    parameters = tuple(signature.parameters.values())[1:]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters), sync
    names = tuple(parameter.name for parameter in parameters)
    named_defaults = tuple((parameter.name, parameter.default) for parameter in parameters)
    empty = inspect.Parameter.empty

    async def twin(self: _StoreT, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        given = len(args)
        arguments = (*args, *(kwargs.get(name, d) for name, d in named_defaults[given:]))
        if (
            given > len(names)
            or (kwargs and not kwargs.keys() <= set(names[given:]))
            or any(argument is empty for argument in arguments)
        ):
            signature.bind(self, *args, **kwargs)  # raises Python's own TypeError
        submit = getattr(self._native, queued_name)
        result: _R = await call_queued(submit, *arguments)
        return result

    twin.__name__ = sync.__name__.removesuffix("_sync")
    twin.__qualname__ = sync.__qualname__.removesuffix("_sync")
    twin.__doc__ = doc
    twin.__signature__ = signature  # type: ignore[attr-defined]
    return twin


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
    record = _awaitable_twin(record_sync, "Record a usage event; returns once it is committed.")
    query = _awaitable_twin(query_sync, "Query events in range (see :meth:`query_sync`).")
    aggregate = _awaitable_twin(
        aggregate_sync, "Aggregate usage for agent (see :meth:`aggregate_sync`)."
    )


class SQLiteMeteringStore(
    SQLiteFile, MeteringMaintenance, _MeteringStore[UsageEventT, UsageAggregateT]
):
    """Persistent :class:`~asap.state.metering.AsyncMeteringStore` on a SQLite file.

    Uses asap-protocol's ``usage_events`` table and both of its indexes; it may share a file
    with a :class:`~asap_native.SQLiteSnapshotStore`. Arguments as for that class, and:

    Args:
        instant_index: Add the index ``asap_native_usage_instant`` to the file when it is
            missing (built only from SQLite's own functions, so asap-protocol's connections
            keep inserting and reading as before). With it a time window reads only the rows
            in the window; without it, asap-protocol's ``(agent_id, timestamp)`` index with a
            margin of a day each side, which is several times slower on dense data. The
            index is used whenever the file has it, however it got there (``asap-native index
            DB`` adds it from the command line). Off by default: building it on a large
            file holds the write lock for a while (seconds per million events), and every
            insert then updates one more index (about a fifth slower for single-row commits).

    Retention, backup and check: ``prune_before``, ``backup``, ``check`` (coroutines) and
    their ``_sync`` twins (see :mod:`asap_native.maintenance`).
    """

    _open_native = staticmethod(_core.open_sqlite_metering_store)

    def __init__(
        self,
        db_path: str | os.PathLike[str] = DEFAULT_DB_PATH,
        *,
        durability: Durability = "normal",
        timeout: float = 15.0,
        instant_index: bool = False,
    ) -> None:
        self._open_file(db_path, durability, timeout, bool(instant_index))


class InMemoryMeteringStore(_MeteringStore[UsageEventT, UsageAggregateT]):
    """:class:`~asap.state.metering.AsyncMeteringStore` held in process memory (for tests)."""

    def __init__(self) -> None:
        self._native = _core.open_memory_metering_store()

    def __repr__(self) -> str:
        return "InMemoryMeteringStore()"
