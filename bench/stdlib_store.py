"""The snapshot store a user would write with the standard library instead of asap_native.

The benchmark's fair baseline: one persistent ``sqlite3`` connection in autocommit mode,
WAL, ``synchronous=NORMAL``, ``json.dumps``/``json.loads``, asap-protocol's schema and SQL,
and ``get`` returning the model built normally (``StateSnapshot(...)``, validated), as
asap-protocol's own row mapper does. It takes no lock, so it is only safe from one thread
at a time; a thread-safe version would be slightly slower, which would only flatter
asap_native.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import snapshot_model

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    task_id TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    checkpoint INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, version)
)
"""
_COLUMNS = "task_id, id, version, data, checkpoint, created_at"
_SAVE = f"INSERT OR REPLACE INTO snapshots ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
_GET_VERSION = f"SELECT {_COLUMNS} FROM snapshots WHERE task_id = ? AND version = ?"
_GET_LATEST = f"SELECT {_COLUMNS} FROM snapshots WHERE task_id = ? ORDER BY version DESC LIMIT 1"
_LIST_VERSIONS = "SELECT version FROM snapshots WHERE task_id = ? ORDER BY version"
_DELETE_VERSION = "DELETE FROM snapshots WHERE task_id = ? AND version = ?"
_DELETE_TASK = "DELETE FROM snapshots WHERE task_id = ?"


class StdlibSnapshotStore:
    """A minimal sync SnapshotStore on ``sqlite3``: save, get, list_versions, delete."""

    def __init__(self, db_path: str | Path, model: Callable[..., Any] | None = None) -> None:
        self._model = model if model is not None else snapshot_model()
        self._conn = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=15000")
        self._conn.execute(_SCHEMA)

    def save(self, snapshot: Any) -> None:
        self._conn.execute(
            _SAVE,
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
            row = self._conn.execute(_GET_LATEST, (task_id,)).fetchone()
        else:
            row = self._conn.execute(_GET_VERSION, (task_id, version)).fetchone()
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
        return [row[0] for row in self._conn.execute(_LIST_VERSIONS, (task_id,))]

    def delete(self, task_id: str, version: int | None = None) -> bool:
        if version is None:
            cursor = self._conn.execute(_DELETE_TASK, (task_id,))
        else:
            cursor = self._conn.execute(_DELETE_VERSION, (task_id, version))
        return cursor.rowcount > 0

    def close(self) -> None:
        self._conn.close()
