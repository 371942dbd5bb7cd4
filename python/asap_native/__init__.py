"""asap_native: native SQLite snapshot and metering stores for the ASAP agent server.

Drop-in replacements for asap-protocol's stores, with the same names, signatures and
exception contracts, implemented in C++ (the GIL is released for every SQLite call).
"""

from __future__ import annotations

from asap_native.errors import (
    CannotOpenDatabaseError,
    DatabaseIOError,
    DatabaseLockedError,
    NotADatabaseError,
    ReadOnlyDatabaseError,
    StoreClosedError,
    StoreError,
)
from asap_native import compression
from asap_native.metering_store import InMemoryMeteringStore, SQLiteMeteringStore
from asap_native.middleware import DecompressionMiddleware
from asap_native.models import StateSnapshot, UsageAggregate, UsageEvent, UsageMetrics
from asap_native.snapshot_store import (
    DEFAULT_DB_PATH,
    AsyncInMemorySnapshotStore,
    InMemorySnapshotStore,
    SQLiteAsyncSnapshotStore,
    SQLiteSnapshotStore,
    create_async_snapshot_store,
    create_snapshot_store,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_DB_PATH",
    "AsyncInMemorySnapshotStore",
    "CannotOpenDatabaseError",
    "DatabaseIOError",
    "DatabaseLockedError",
    "DecompressionMiddleware",
    "InMemoryMeteringStore",
    "InMemorySnapshotStore",
    "NotADatabaseError",
    "ReadOnlyDatabaseError",
    "SQLiteAsyncSnapshotStore",
    "SQLiteMeteringStore",
    "SQLiteSnapshotStore",
    "StateSnapshot",
    "StoreClosedError",
    "StoreError",
    "UsageAggregate",
    "UsageEvent",
    "UsageMetrics",
    "compression",
    "create_async_snapshot_store",
    "create_snapshot_store",
]
