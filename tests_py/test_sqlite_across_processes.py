"""Our stores and Python's sqlite3 module on one file, each in its own process.

Runs in every build. With the bundled SQLite these are the supported way to share a file with
another SQLite library (the in-process variants are skipped there, see conftest.py): locks and
the WAL are seen across processes whichever copy of SQLite each process runs.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from _processes import python_child
from conftest import make_event, make_snapshot

from asap_native import DatabaseLockedError, SQLiteMeteringStore, SQLiteSnapshotStore

HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
conn.close()
"""

READ_AND_WRITE = """
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
rows = conn.execute("SELECT task_id, version FROM snapshots ORDER BY task_id, version").fetchall()
conn.execute(
    "INSERT INTO snapshots VALUES ('theirs', 'snap_t', 1, '{\\"by\\": \\"stdlib\\"}', 0,"
    " '2024-01-01T00:00:00')")
conn.commit()
conn.close()
print(json.dumps(rows))
"""


def test_a_lock_held_by_sqlite3_in_another_process_is_seen(db_path: Path) -> None:
    store = SQLiteSnapshotStore(db_path, timeout=0.1)
    meter = SQLiteMeteringStore(db_path, timeout=0.1)
    store.save(make_snapshot("before", 1))
    with python_child(HOLD_LOCK, str(db_path), ready="locked") as holder:
        with pytest.raises(DatabaseLockedError):
            store.save(make_snapshot("during", 1))
        with pytest.raises(sqlite3.OperationalError):
            meter.record_sync(make_event("a"))
        holder.communicate("\n", timeout=30)  # the holder rolls back and ends
        assert holder.returncode == 0
    store.save(make_snapshot("after", 1))
    assert store.list_versions("after") == [1]
    store.close()
    meter.close()


def test_sqlite3_in_another_process_reads_our_commits_and_we_read_its(db_path: Path) -> None:
    with SQLiteSnapshotStore(db_path) as store:
        for version in (1, 2, 3):
            store.save(make_snapshot("ours", version))
        # Still open, so the commits may be only in our WAL: the other process must see them.
        done = subprocess.run(
            [sys.executable, "-c", READ_AND_WRITE, str(db_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == '[["ours", 1], ["ours", 2], ["ours", 3]]'
        theirs = store.get("theirs")
        assert theirs is not None and theirs.data == {"by": "stdlib"}
        store.save(make_snapshot("ours", 4))
        assert store.list_versions("ours") == [1, 2, 3, 4]
