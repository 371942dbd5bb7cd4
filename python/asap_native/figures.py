"""The shape of the figures stores report: what ``stats()`` returns, typed."""

from __future__ import annotations

from typing import TypedDict

__all__ = ["BatchSize", "GroupCommit", "Latency", "OperationFigures", "StoreFigures"]


class Latency(TypedDict):
    """Milliseconds from the call (or its submission, for awaited calls) to its completion."""

    p50: float
    p99: float
    max: float


class OperationFigures(TypedDict):
    """One kind of operation: calls completed, how many failed, and their latency."""

    count: int
    errors: int
    latency_ms: Latency


class BatchSize(TypedDict):
    p50: int
    p99: int
    max: int


class GroupCommit(TypedDict):
    """Writes of the awaitable API, committed together in batches."""

    batches: int
    writes: int
    largest_batch: int
    batch_size: BatchSize


class StoreFigures(TypedDict):
    """What every store's ``stats()`` returns.

    ``operations``: per kind (save, get, list_versions, delete, record, query, aggregate).
    ``errors``: failures by kind (busy, read_only, invalid_argument, invalid_data...).
    ``busy_waits``: calls that had to wait for another connection's lock.
    """

    operations: dict[str, OperationFigures]
    errors: dict[str, int]
    busy_waits: int
    group_commit: GroupCommit
