"""asap_native: native SQLite snapshot and metering stores for the ASAP agent server.

Drop-in replacements for asap-protocol's stores, with the same names, signatures and
exception contracts, implemented in C++ (the GIL is released for every SQLite call); and the
same stores on PostgreSQL, for servers on several hosts (``Postgres*``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from asap_native import _core, errors, models
from asap_native.errors import (
    CannotOpenDatabaseError,
    DatabaseAuthenticationError,
    DatabaseConnectionError,
    DatabaseIOError,
    DatabaseLockedError,
    DatabaseTimeoutError,
    NotADatabaseError,
    ReadOnlyDatabaseError,
    StoreClosedError,
    StoredDataError,
    StoreError,
)
from asap_native.metering_store import InMemoryMeteringStore, SQLiteMeteringStore
from asap_native.models import StateSnapshot, UsageAggregate, UsageEvent, UsageMetrics
from asap_native.postgres import (
    PostgresAsyncSnapshotStore,
    PostgresMeteringStore,
    PostgresSnapshotStore,
    postgres_available,
)
from asap_native.snapshot_store import (
    DEFAULT_DB_PATH,
    AsyncInMemorySnapshotStore,
    InMemorySnapshotStore,
    SQLiteAsyncSnapshotStore,
    SQLiteSnapshotStore,
    create_async_snapshot_store,
    create_snapshot_store,
)

# Once, before any store exists: the exceptions _core raises and the models it builds.
_core._register_python_classes(
    errors.NATIVE_ERROR_CLASSES, errors.path_error, models.model_factories
)

if TYPE_CHECKING:
    from asap_native import compression
    from asap_native.middleware import DecompressionMiddleware

#: The version in pyproject.toml (its one home), compiled into the extension.
__version__: str = _core.__version__

#: The SQLite library the stores use, like ``sqlite3.sqlite_version``: the copy bundled in the
#: wheels, or the system's in a build from source with ``ASAP_NATIVE_BUNDLED_SQLITE=OFF``.
sqlite_version: str = _core.sqlite_version()
#: ``sqlite_version`` as a tuple of ints, like ``sqlite3.sqlite_version_info``.
sqlite_version_info: tuple[int, ...] = tuple(int(part) for part in sqlite_version.split("."))

__all__ = [
    "DEFAULT_DB_PATH",
    "AsyncInMemorySnapshotStore",
    "CannotOpenDatabaseError",
    "DatabaseAuthenticationError",
    "DatabaseConnectionError",
    "DatabaseIOError",
    "DatabaseLockedError",
    "DatabaseTimeoutError",
    "DecompressionMiddleware",
    "InMemoryMeteringStore",
    "InMemorySnapshotStore",
    "NotADatabaseError",
    "PostgresAsyncSnapshotStore",
    "PostgresMeteringStore",
    "PostgresSnapshotStore",
    "ReadOnlyDatabaseError",
    "SQLiteAsyncSnapshotStore",
    "SQLiteMeteringStore",
    "SQLiteSnapshotStore",
    "StateSnapshot",
    "StoreClosedError",
    "StoreError",
    "StoredDataError",
    "UsageAggregate",
    "UsageEvent",
    "UsageMetrics",
    "compression",
    "create_async_snapshot_store",
    "create_snapshot_store",
    "postgres_available",
    "sqlite_version",
    "sqlite_version_info",
]


def __getattr__(name: str) -> Any:
    # Loaded on first use: compression imports FastAPI (its size error is an HTTPException),
    # which store-only users should not pay for at import time.
    if name == "compression":
        return importlib.import_module("asap_native.compression")
    if name == "DecompressionMiddleware":
        return importlib.import_module("asap_native.middleware").DecompressionMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
