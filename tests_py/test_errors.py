"""Typed exceptions: sqlite3-compatible classes carrying SQLite's code and name."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_same_snapshot, make_event, make_snapshot

from asap_native import (
    CannotOpenDatabaseError,
    DatabaseIOError,
    DatabaseLockedError,
    NotADatabaseError,
    ReadOnlyDatabaseError,
    SQLiteMeteringStore,
    SQLiteSnapshotStore,
    StoreClosedError,
    StoreError,
)

NOBODY = 65534

# --- class hierarchy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "sqlite_base"),
    [
        (StoreError, sqlite3.DatabaseError),
        (DatabaseLockedError, sqlite3.OperationalError),
        (ReadOnlyDatabaseError, sqlite3.OperationalError),
        (CannotOpenDatabaseError, sqlite3.OperationalError),
        (DatabaseIOError, sqlite3.OperationalError),
        (NotADatabaseError, sqlite3.DatabaseError),
        (StoreClosedError, sqlite3.ProgrammingError),
    ],
)
def test_classes_subclass_sqlite3(cls: type, sqlite_base: type) -> None:
    assert issubclass(cls, StoreError)
    assert issubclass(cls, sqlite_base)
    assert issubclass(cls, sqlite3.Error)
    error = cls("message")
    assert str(error) == "message"
    assert error.sqlite_errorcode == 0 and error.sqlite_errorname == ""


def test_not_a_database_is_not_an_operational_error() -> None:
    # Python's sqlite3 raises plain DatabaseError for SQLITE_NOTADB; so do we.
    assert not issubclass(NotADatabaseError, sqlite3.OperationalError)


# --- helpers ----------------------------------------------------------------------------------


class ExclusiveLock:
    """Another connection (Python's own sqlite3) holding the write lock on a database file."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("BEGIN EXCLUSIVE")

    def insert_uncommitted(self, task_id: str) -> None:
        self.conn.execute(
            "INSERT INTO snapshots VALUES (?, 'snap_x', 1, '{}', 0, '2024-01-01T00:00:00')",
            (task_id,),
        )

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


def stdlib_error(action: Any) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as info:
        action()
    return info.value


# --- errors from SQLite ---------------------------------------------------------------------


@pytest.mark.same_sqlite_in_process
def test_locked_database_raises_database_locked(db_path: Path) -> None:
    store = SQLiteSnapshotStore(db_path, timeout=0.05)
    meter = SQLiteMeteringStore(db_path, timeout=0.05)
    lock = ExclusiveLock(db_path)
    try:
        with pytest.raises(DatabaseLockedError) as info:
            store.save(make_snapshot("task_a", 1))
        assert isinstance(info.value, sqlite3.OperationalError)
        assert info.value.sqlite_errorname in ("SQLITE_BUSY", "SQLITE_LOCKED")
        assert info.value.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
        with pytest.raises(sqlite3.OperationalError):  # what asap-protocol users catch
            meter.record_sync(make_event("a"))
        # What Python's own driver reports for the same condition.
        other = sqlite3.connect(db_path, timeout=0)
        theirs = stdlib_error(lambda: other.execute("BEGIN IMMEDIATE"))
        other.close()
        assert (info.value.sqlite_errorcode, info.value.sqlite_errorname) == (
            theirs.sqlite_errorcode,
            theirs.sqlite_errorname,
        )
    finally:
        lock.release()
    snap = make_snapshot("task_a", 1)
    store.save(snap)  # usable once the lock is gone
    assert_same_snapshot(store.get("task_a"), snap)
    meter.record_sync(make_event("a"))
    store.close()
    meter.close()


def test_reads_do_not_wait_behind_a_writer(db_path: Path) -> None:
    with SQLiteSnapshotStore(db_path, timeout=0.05) as store:
        committed = make_snapshot("task_a", 1)
        store.save(committed)
        lock = ExclusiveLock(db_path)
        try:
            lock.insert_uncommitted("task_b")
            assert_same_snapshot(store.get("task_a"), committed)
            assert store.get("task_b") is None  # the uncommitted row is not visible
            assert store.list_versions("task_a") == [1]
        finally:
            lock.release()


def test_not_a_database_carries_code_and_name(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"definitely not sqlite" * 512)
    with pytest.raises(NotADatabaseError) as info:
        SQLiteSnapshotStore(junk)
    conn = sqlite3.connect(junk)
    theirs = stdlib_error(lambda: conn.execute("SELECT * FROM sqlite_master").fetchall())
    conn.close()
    assert type(theirs) is sqlite3.DatabaseError
    assert info.value.sqlite_errorcode == theirs.sqlite_errorcode == sqlite3.SQLITE_NOTADB
    assert info.value.sqlite_errorname == theirs.sqlite_errorname == "SQLITE_NOTADB"
    assert "not a database" in str(info.value)


def test_store_closed_error(db_path: Path) -> None:
    store = SQLiteSnapshotStore(db_path)
    store.close()
    with pytest.raises(StoreClosedError) as info:
        store.list_versions("t")
    assert isinstance(info.value, sqlite3.ProgrammingError)
    assert "closed" in str(info.value)


def test_database_file_mode_is_0600(db_path: Path) -> None:
    old_umask = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        SQLiteMeteringStore(db_path).close()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_existing_file_mode_is_left_alone(db_path: Path) -> None:
    db_path.touch(mode=0o640)
    os.chmod(db_path, 0o640)
    SQLiteSnapshotStore(db_path).close()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o640


# --- I/O errors (file size limit) and permissions (as an unprivileged user) ------------------

CHILD_PRELUDE = """
import json, os, sys, datetime, decimal, enum, uuid
import asap_native
from asap_native import models
models.snapshot_factory(); models.usage_event_factory(); models.usage_aggregate_factory()

def outcome(action):
    try:
        result = action()
    except BaseException as error:
        return {
            "type": type(error).__name__,
            "mro": [c.__name__ for c in type(error).__mro__],
            "message": str(error),
            "code": getattr(error, "sqlite_errorcode", None),
            "name": getattr(error, "sqlite_errorname", None),
        }
    return {"type": None, "result": repr(result)}
"""


def run_child(body: str, *args: str, prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    script = CHILD_PRELUDE + textwrap.dedent(body)
    proc = subprocess.run(
        [*prefix, sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_disk_write_failure_raises_database_io_error(db_path: Path) -> None:
    results = run_child(
        """
        import resource, signal
        from asap.models.entities import StateSnapshot
        def snap(v, data):
            return StateSnapshot(id=f"s{v}", task_id="t", version=v, data=data,
                                 created_at=datetime.datetime(2024, 1, 1))
        store = asap_native.SQLiteSnapshotStore(sys.argv[1])
        store.save(snap(1, {"small": 1}))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
        big = outcome(lambda: store.save(snap(2, {"big": "x" * 2_000_000})))
        after = outcome(lambda: store.list_versions("t"))
        small = outcome(lambda: store.save(snap(3, {"small": 3})))
        final = outcome(lambda: store.list_versions("t"))
        print(json.dumps({"big": big, "after": after, "small": small, "final": final}))
        """,
        str(db_path),
    )
    big = results["big"]
    assert big["type"] == "DatabaseIOError", big
    assert "OperationalError" in big["mro"] and "StoreError" in big["mro"]
    assert big["code"] & 0xFF in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL)
    assert big["name"].startswith(("SQLITE_IOERR", "SQLITE_FULL"))
    assert results["after"] == {"type": None, "result": "[1]"}  # nothing half-written
    assert results["small"]["type"] is None
    assert results["final"]["result"] == "[1, 3]"


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder the unprivileged user can reach (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="asap_native_perm_", dir="/tmp"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="needs root to drop privileges to another user",
)

PERMISSION_CHILD = f"""
os.setgid({NOBODY})
os.setuid({NOBODY})
results = {{}}
for label, path in zip(sys.argv[1::2], sys.argv[2::2]):
    results[label + "/snapshot"] = outcome(lambda: asap_native.SQLiteSnapshotStore(path))
    results[label + "/metering"] = outcome(lambda: asap_native.SQLiteMeteringStore(path))
print(json.dumps(results))
"""


@needs_root
def test_unwritable_files_raise_clear_errors(shared_dir: Path) -> None:
    readable = shared_dir / "readable.db"  # 0644: the other user may read, not write
    private = shared_dir / "private.db"  # 0600: the other user may do neither
    for path in (readable, private):
        with SQLiteSnapshotStore(path) as store:
            store.save(make_snapshot("task_a", 1))
        with SQLiteMeteringStore(path) as meter:
            meter.record_sync(make_event("a"))
    os.chmod(readable, 0o644)
    results = run_child(
        PERMISSION_CHILD,
        "readable",
        str(readable),
        "private",
        str(private),
        "new",
        str(shared_dir / "new.db"),
    )
    for kind in ("snapshot", "metering"):
        ro = results[f"readable/{kind}"]
        assert ro["type"] == "ReadOnlyDatabaseError", ro
        assert "OperationalError" in ro["mro"]
        assert ro["name"].startswith("SQLITE_READONLY"), ro
        assert ro["code"] & 0xFF == sqlite3.SQLITE_READONLY
        hidden = results[f"private/{kind}"]
        assert hidden["type"] in ("CannotOpenDatabaseError", "DatabasePermissionError"), hidden
        assert "OperationalError" in hidden["mro"]
        created = results[f"new/{kind}"]
        # Both what the errno says and what asap-protocol raises (at first use) for it.
        assert created["type"] == "DatabasePermissionError", created
        assert {"PermissionError", "OperationalError", "StoreError"} <= set(created["mro"])
        assert "new.db" in created["message"]
    assert not (shared_dir / "new.db").exists()
    # The files were not damaged by the failed attempts.
    with SQLiteSnapshotStore(readable) as store:
        assert store.list_versions("task_a") == [1]


@needs_root
def test_unwritable_file_in_writable_folder(shared_dir: Path) -> None:
    target = shared_dir / "ro.db"
    with SQLiteSnapshotStore(target) as store:
        store.save(make_snapshot("task_a", 1))
    os.chmod(target, 0o644)
    os.chmod(shared_dir, 0o777)  # -wal/-shm may be created; the database itself may not be written
    results = run_child(PERMISSION_CHILD, "ro", str(target))
    for kind in ("snapshot", "metering"):
        assert results[f"ro/{kind}"]["type"] == "ReadOnlyDatabaseError", results


# --- rows that no store of ours wrote ----------------------------------------------------------


def test_corrupt_rows_raise_clear_errors_and_leave_the_store_usable(db_path: Path) -> None:
    SQLiteSnapshotStore(db_path).close()
    conn = sqlite3.connect(db_path)
    rows = [
        ("not_json", "{not json", "2024-05-17T08:00:00+00:00"),
        ("bad_utf8", b'{"x": "\xff"}', "2024-05-17T08:00:00+00:00"),
        ("bad_time", "{}", "yesterday"),
        ("truncated", '{"a": [1, 2', "2024-05-17T08:00:00+00:00"),
    ]
    for task_id, data, created_at in rows:
        conn.execute(
            "INSERT INTO snapshots VALUES (?, 'snap', 1, ?, 0, ?)", (task_id, data, created_at)
        )
    conn.commit()
    conn.close()
    with SQLiteSnapshotStore(db_path) as store:
        for task_id, _, _ in rows:
            with pytest.raises(ValueError):
                store.get(task_id)
            assert store.list_versions(task_id) == [1]  # still listed, and deletable
        assert store.delete("not_json") is True
        snap = make_snapshot("fine", 1)
        store.save(snap)
        assert_same_snapshot(store.get("fine"), snap)


def _read_only_mount_works() -> bool:
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o ro tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    shutil.which("unshare") is None or not _read_only_mount_works(),
    reason="needs unshare -rm (a private mount namespace) to mount a read-only file system",
)
def test_a_read_only_file_system_is_a_read_only_database_error(tmp_path: Path) -> None:
    # A private mount namespace (unshare -rm) holds a read-only tmpfs, mounted over tmp_path.
    mount = f'mount -t tmpfs -o ro tmpfs {tmp_path} && exec "$@"'
    results = run_child(
        """
        path = os.path.join(sys.argv[1], "new.db")
        print(json.dumps({
            "snapshot": outcome(lambda: asap_native.SQLiteSnapshotStore(path)),
            "metering": outcome(lambda: asap_native.SQLiteMeteringStore(path)),
        }))
        """,
        str(tmp_path),
        prefix=("unshare", "-rm", "sh", "-c", mount, "sh"),
    )
    for kind in ("snapshot", "metering"):
        error = results[kind]
        assert error["type"] == "ReadOnlyFileSystemError", error
        assert {"ReadOnlyDatabaseError", "OperationalError", "OSError"} <= set(error["mro"])
        assert "Read-only file system" in error["message"] and "new.db" in error["message"]
