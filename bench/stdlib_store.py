"""The snapshot store a user would write with the standard library instead of asap_native.

The benchmark's fair baseline: one persistent ``sqlite3`` connection in autocommit mode,
WAL, ``synchronous=NORMAL``, ``json.dumps``/``json.loads``, asap-protocol's schema and SQL,
and ``get`` returning the model built normally (``StateSnapshot(...)``, validated), as
asap-protocol's own row mapper does. It takes no lock, so it is only safe from one thread
at a time; a thread-safe version would be slightly slower, which would only flatter
asap_native.

The schema and statements are imported from asap-protocol (``asap.state.stores.sqlite``, a
dependency of the benchmarks), not copied: the baseline runs exactly the SQL asap-protocol
runs, whatever its installed version, so no drift between a copy and the real thing can
make the comparison unfair.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from asap.state.stores.sqlite import (
    _DELETE_TASK_SQL,
    _DELETE_VERSION_SQL,
    _GET_BY_VERSION_SQL,
    _GET_LATEST_SQL,
    _LIST_VERSIONS_SQL,
    _SAVE_SQL,
    _SNAPSHOTS_DDL,
)

from bench.common import snapshot_model


class StdlibSnapshotStore:
    """A minimal sync SnapshotStore on ``sqlite3``: save, get, list_versions, delete."""

    def __init__(self, db_path: str | Path, model: Callable[..., Any] | None = None) -> None:
        self._model = model if model is not None else snapshot_model()
        self._conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=15000")
        self._conn.execute(_SNAPSHOTS_DDL)

    def save(self, snapshot: Any) -> None:
        self._conn.execute(
            _SAVE_SQL,
            (
                snapshot.task_id,
                snapshot.id,
                snapshot.version,
                json.dumps(snapshot.data),
                1 if snapshot.checkpoint else 0,
                snapshot.created_at.isoformat(),
            ),
        )

    def get(self, task_id: str, version: int | None = None) -> Any:
        if version is None:
            row = self._conn.execute(_GET_LATEST_SQL, (task_id,)).fetchone()
        else:
            row = self._conn.execute(_GET_BY_VERSION_SQL, (task_id, version)).fetchone()
        if row is None:
            return None
        task, id_, number, data, checkpoint, created_at = row
        return self._model(
            id=id_,
            task_id=task,
            version=number,
            data=json.loads(data),
            checkpoint=bool(checkpoint),
            created_at=datetime.fromisoformat(created_at),
        )

    def list_versions(self, task_id: str) -> list[int]:
        return [row[0] for row in self._conn.execute(_LIST_VERSIONS_SQL, (task_id,))]

    def delete(self, task_id: str, version: int | None = None) -> bool:
        if version is None:
            cursor = self._conn.execute(_DELETE_TASK_SQL, (task_id,))
        else:
            cursor = self._conn.execute(_DELETE_VERSION_SQL, (task_id, version))
        return cursor.rowcount > 0

    def close(self) -> None:
        self._conn.close()
