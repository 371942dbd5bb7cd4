"""``python -m asap_native`` / ``asap-native``: every subcommand on files written by
asap-protocol's own stores, run as a user runs it (a process of its own), including a backup
while another process writes and a check of a deliberately corrupted copy."""

from __future__ import annotations

import asyncio
import json
import math
import os
import pty
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from _processes import python_child
from asap.models.entities import StateSnapshot
from asap.state.stores.sqlite import SQLiteMeteringStore as AsapMeteringStore
from asap.state.stores.sqlite import SQLiteSnapshotStore as AsapSnapshotStore
from conftest import make_event, sqlite_rows

from asap_native import cli

UTC = timezone.utc
T0 = datetime(2024, 5, 17, 0, 0, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))
SUBCOMMANDS = ("info", "check", "backup", "prune", "index", "export", "import")


def run_cli(*args: str | Path, stdin: str | None = None, timeout: float = 120) -> Any:
    """``python -m asap_native ARGS`` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "asap_native", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def snapshot_data(task: int, version: int) -> dict[str, Any]:
    return {
        "step": version,
        "task": f"t{task}",
        "nested": {"list": [1, 2.5, None, True], "text": "héllo ✓"},
        "big": 2**80 + version,
        "nan": math.nan if version == 1 else 0.0,
    }


def asap_snapshots(tasks: int = 4, versions: int = 6) -> list[StateSnapshot]:
    return [
        StateSnapshot(
            id=f"snap_{task}_{version}",
            task_id=f"task_{task}",
            version=version,
            data=snapshot_data(task, version),
            checkpoint=version % 2 == 0,
            created_at=T0 + timedelta(minutes=version),
        )
        for task in range(tasks)
        for version in range(1, versions + 1)
    ]


def asap_events() -> list[Any]:
    events = []
    for i in range(300):
        moment = T0 + timedelta(minutes=10 * i)
        if i % 3 == 0:
            moment = moment.astimezone(PLUS2)
        events.append(make_event(f"agent_{i % 2}", moment, task_id=f"task_{i}"))
    return events


def write_with_asap(path: Path) -> tuple[list[StateSnapshot], list[Any]]:
    """A state file as an ASAP server using asap-protocol's SQLite stores leaves it."""
    snapshots = asap_snapshots()
    store = AsapSnapshotStore(path)
    for snapshot in snapshots:
        store.save(snapshot)
    events = asap_events()

    async def record() -> None:
        metering = AsapMeteringStore(path)
        for event in events:
            await metering.record(event)

    asyncio.run(record())
    return snapshots, events


@pytest.fixture(scope="module")
def asap_file_template(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[Any], list[Any]]:
    path = tmp_path_factory.mktemp("asap") / "asap_state.db"
    snapshots, events = write_with_asap(path)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path, snapshots, events


@pytest.fixture
def asap_file(asap_file_template: tuple[Path, list[Any], list[Any]], tmp_path: Path) -> Path:
    """A fresh copy of the asap-written file for one test."""
    path = tmp_path / "asap_state.db"
    shutil.copy(asap_file_template[0], path)
    return path


# ---------------------------------------------------------------- help and entry points


def test_help_lists_every_subcommand_and_the_exit_codes() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for name in SUBCOMMANDS:
        assert f"\n    {name} " in done.stdout
    assert "exit status:" in done.stdout and "4  import" in done.stdout
    for name in SUBCOMMANDS:
        sub = run_cli(name, "--help")
        assert sub.returncode == 0, sub.stderr
        assert f"usage: asap-native {name}" in sub.stdout
        assert "--json" in sub.stdout and "exit status:" in sub.stdout


def test_console_script_and_usage_errors() -> None:
    script = Path(sys.executable).with_name("asap-native")
    assert script.exists()
    done = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("asap-native ")
    assert run_cli().returncode == cli.EXIT_USAGE  # no subcommand
    assert run_cli("frobnicate").returncode == cli.EXIT_USAGE
    assert run_cli("info").returncode == cli.EXIT_USAGE  # no DB


# ---------------------------------------------------------------- info


def test_info_on_an_asap_file(asap_file: Path) -> None:
    done = run_cli("info", asap_file)
    assert done.returncode == 0, done.stderr
    assert "snapshots" in done.stdout and "24 rows" in done.stdout
    assert "usage_events" in done.stdout and "300 rows" in done.stdout
    assert "asap-protocol: compatible" in done.stdout
    document = json.loads(run_cli("info", asap_file, "--json").stdout)
    assert document["tables"] == {"snapshots": 24, "usage_events": 300}
    assert document["file_bytes"] == asap_file.stat().st_size > 0
    assert document["wal_bytes"] == 0
    assert document["journal_mode"] == "wal"
    assert document["asap_schema"] == {"compatible": True, "problems": [], "notes": []}
    assert document["indexes"] == ["idx_usage_agent_timestamp", "idx_usage_consumer_timestamp"]
    import asap_native

    assert document["sqlite_version"] == asap_native.sqlite_version
    # Read-only: nothing was added to the file (no instant index, no table).
    assert [name for (name,) in sqlite_rows(asap_file, "SELECT name FROM sqlite_master")] == [
        "snapshots",
        "sqlite_autoindex_snapshots_1",
        "usage_events",
        "sqlite_autoindex_usage_events_1",
        "idx_usage_agent_timestamp",
        "idx_usage_consumer_timestamp",
    ]


def test_info_and_check_of_missing_and_foreign_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    for command in ("info", "check", "export"):
        done = run_cli(command, missing)
        assert done.returncode == cli.EXIT_DATABASE
        assert "no such database file" in done.stderr
        assert "Traceback" not in done.stderr
    assert not missing.exists()
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as conn:
        conn.executescript(
            "CREATE TABLE snapshots (task_id TEXT NOT NULL, id TEXT NOT NULL, version INTEGER "
            "NOT NULL, data TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (task_id, "
            "version));"
        )
    info = json.loads(run_cli("info", other, "--json").stdout)
    assert info["asap_schema"]["compatible"] is False
    assert info["asap_schema"]["problems"] == ["snapshots: column 'checkpoint' is missing"]
    done = run_cli("check", other)
    assert done.returncode == cli.EXIT_UNHEALTHY
    assert "schema: snapshots: column 'checkpoint' is missing" in done.stdout


# ---------------------------------------------------------------- check


def test_check_a_healthy_file(asap_file: Path) -> None:
    done = run_cli("check", asap_file)
    assert done.returncode == cli.EXIT_OK, done.stdout + done.stderr
    assert "healthy" in done.stdout
    document = json.loads(run_cli("check", asap_file, "--quick", "--json").stdout)
    assert document == {
        "ok": True,
        "quick": True,
        "integrity_errors": [],
        "schema_problems": [],
        "schema_notes": [],
    }


def corrupt_copy(source: Path, dest: Path, page: int) -> None:
    """`source` with page `page` (4096 bytes, counted from 0) overwritten with garbage."""
    data = bytearray(source.read_bytes())
    assert len(data) > 4096 * (page + 1), "the file is too small to corrupt that page"
    data[4096 * page : 4096 * (page + 1)] = bytes((i * 37 + 11) % 251 for i in range(4096))
    dest.write_bytes(bytes(data))


def test_check_a_corrupted_copy(asap_file: Path, tmp_path: Path) -> None:
    pages = asap_file.stat().st_size // 4096
    bad = tmp_path / "corrupt.db"
    corrupt_copy(asap_file, bad, pages // 2)
    done = run_cli("check", bad)
    assert done.returncode == cli.EXIT_UNHEALTHY, done.stdout + done.stderr
    assert "UNHEALTHY" in done.stdout
    assert "Traceback" not in done.stderr
    document = json.loads(run_cli("check", bad, "--json").stdout)
    assert document["ok"] is False and document["integrity_errors"]
    # Not a database at all: still a clear verdict, not a crash.
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 1000)
    done = run_cli("check", garbage)
    assert done.returncode == cli.EXIT_UNHEALTHY
    assert "UNHEALTHY" in done.stdout and "not a database" in done.stdout


# ---------------------------------------------------------------- backup

PAIR_WRITER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=15, isolation_level=None)
conn.execute("PRAGMA busy_timeout=15000")
conn.execute("CREATE TABLE IF NOT EXISTS pairs (n INTEGER, half INTEGER, pad TEXT)")
print("ready", flush=True)
n = 0
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO pairs VALUES (?, 0, ?)", (n, "x" * 200))
    conn.execute("INSERT INTO pairs VALUES (?, 1, ?)", (n, "x" * 200))
    conn.execute("COMMIT")
    n += 1
    if sys.stdin.closed:
        break
"""


@pytest.fixture
def pair_writer(asap_file: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process committing pairs of rows into the file until stopped."""
    with python_child(PAIR_WRITER, str(asap_file), ready="ready") as writer:
        time.sleep(0.2)
        yield writer


def test_backup_while_another_process_writes(
    asap_file: Path, tmp_path: Path, pair_writer: subprocess.Popen[str]
) -> None:
    # More pages, so the copy takes many steps while the writer commits.
    copy = tmp_path / "backup.db"
    done = run_cli("backup", asap_file, copy, "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["dest"] == str(copy) and document["bytes"] == copy.stat().st_size
    assert pair_writer.poll() is None  # the writer kept going
    written_after = sqlite_rows(asap_file, "SELECT count(*) FROM pairs")[0][0]
    assert run_cli("check", copy).returncode == 0
    copied = sqlite_rows(copy, "SELECT count(*) FROM pairs")[0][0]
    assert copied % 2 == 0  # never half of a commit
    assert 0 < copied <= written_after
    assert sqlite_rows(copy, "SELECT count(*) FROM pairs GROUP BY n HAVING count(*) != 2") == []
    # asap-protocol reads the copy as it reads its own file.
    store = AsapSnapshotStore(copy)
    assert store.list_versions("task_1") == [1, 2, 3, 4, 5, 6]
    assert store.get("task_1", 3) is not None
    assert oct(copy.stat().st_mode & 0o777) == oct(0o600)


def test_backup_refuses_an_existing_destination(asap_file: Path, tmp_path: Path) -> None:
    dest = tmp_path / "taken.db"
    dest.write_text("keep")
    done = run_cli("backup", asap_file, dest)
    assert done.returncode == cli.EXIT_DATABASE
    assert "exists" in done.stderr
    assert dest.read_text() == "keep"


# ---------------------------------------------------------------- prune


def test_prune_keep_last_on_asap_snapshots(asap_file: Path) -> None:
    done = run_cli("prune", asap_file, "--keep-last", "2", "--task", "task_0", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["snapshots_deleted"] == 4
    store = AsapSnapshotStore(asap_file)
    assert store.list_versions("task_0") == [5, 6]
    assert store.list_versions("task_1") == [1, 2, 3, 4, 5, 6]
    done = run_cli("prune", asap_file, "--keep-last", "3", "--chunk-size", "2")
    assert done.returncode == 0, done.stderr
    assert "deleted 9 snapshot versions" in done.stdout  # 3 tasks x 3, task_0 keeps 2
    for task in range(4):
        expected = [5, 6] if task == 0 else [4, 5, 6]
        assert store.list_versions(f"task_{task}") == expected
    latest = store.get("task_3")
    assert latest is not None and latest.data["big"] == 2**80 + 6


def test_prune_usage_before_on_asap_events(asap_file: Path) -> None:
    events = asap_events()
    cutoff = T0 + timedelta(hours=20, minutes=5)
    expected_left = sorted(e.task_id for e in events if e.timestamp >= cutoff)
    done = run_cli(
        "prune", asap_file, "--usage-before", "2024-05-17T22:05:00+02:00", "--chunk-size", "7"
    )
    assert done.returncode == 0, done.stderr
    assert f"deleted {len(events) - len(expected_left)} usage events" in done.stdout
    left = sorted(row[0] for row in sqlite_rows(asap_file, "SELECT task_id FROM usage_events"))
    assert left == expected_left

    # asap-protocol still queries and aggregates the file.
    async def asap_reads() -> Any:
        store = AsapMeteringStore(asap_file)
        return await store.aggregate("agent_0", "day")

    total = asyncio.run(asap_reads())
    assert total.total_tasks == sum(
        1 for e in events if e.timestamp >= cutoff and e.agent_id == "agent_0"
    )


def test_prune_both_rules_and_bad_arguments(asap_file: Path) -> None:
    done = run_cli("prune", asap_file, "--keep-last", "1", "--usage-before", "2030-01-01", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["snapshots_deleted"] == 20 and document["usage_events_deleted"] == 300
    for bad in (
        [],
        ["--keep-last", "0"],
        ["--keep-last", "x"],
        ["--usage-before", "yesterday"],
        ["--task", "t"],
        ["--keep-last", "1", "--chunk-size", "0"],
    ):
        done = run_cli("prune", asap_file, *bad)
        assert done.returncode == cli.EXIT_USAGE, (bad, done.stderr)
        assert "Traceback" not in done.stderr


def test_prune_while_an_asap_server_records(asap_file: Path) -> None:
    """A recording process (asap-protocol's store) is never failed by a prune."""
    recorder = (
        "import asyncio, sys\n"
        "from datetime import datetime, timezone\n"
        "from asap.state.stores.sqlite import SQLiteMeteringStore\n"
        "from asap.state.metering import UsageEvent, UsageMetrics\n"
        "async def main():\n"
        "    store = SQLiteMeteringStore(sys.argv[1])\n"
        "    for i in range(150):\n"
        "        await store.record(UsageEvent(task_id=f'late_{i}', agent_id='agent_0',\n"
        "            consumer_id='c', metrics=UsageMetrics(tokens_in=1),\n"
        "            timestamp=datetime(2031, 1, 1, tzinfo=timezone.utc)))\n"
        "asyncio.run(main())\n"
    )
    with subprocess.Popen([sys.executable, "-c", recorder, str(asap_file)]) as writer:
        done = run_cli("prune", asap_file, "--usage-before", "2030-01-01", "--chunk-size", "10")
        assert writer.wait(timeout=120) == 0
    assert done.returncode == 0, done.stderr
    count = "SELECT count(*) FROM usage_events WHERE task_id {} 'late_%'"
    assert sqlite_rows(asap_file, count.format("LIKE")) == [(150,)]
    assert sqlite_rows(asap_file, count.format("NOT LIKE")) == [(0,)]


# ---------------------------------------------------------------- index


def test_index_adds_the_instant_index_and_asap_keeps_writing(asap_file: Path) -> None:
    done = run_cli("index", asap_file, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changed"] is True
    assert "already there" in run_cli("index", asap_file).stdout
    info = json.loads(run_cli("info", asap_file, "--json").stdout)
    assert "asap_native_usage_instant" in info["indexes"]
    assert info["asap_schema"]["compatible"] is True
    # asap-protocol's own store keeps inserting (SQLite's own functions only) and reading.
    moment = datetime(2024, 5, 20, 8, 30, 0, 999999, tzinfo=PLUS2)

    async def asap_side() -> list[Any]:
        store = AsapMeteringStore(asap_file)
        await store.record(make_event("agent_9", moment, task_id="after_index"))
        return await store.query("agent_9", moment, moment)

    assert [event.task_id for event in asyncio.run(asap_side())] == ["after_index"]
    assert run_cli("check", asap_file).returncode == 0
    done = run_cli("index", asap_file, "--drop")
    assert done.returncode == 0 and "dropped" in done.stdout
    assert (
        "asap_native_usage_instant"
        not in json.loads(run_cli("info", asap_file, "--json").stdout)["indexes"]
    )


def test_index_needs_a_usage_table(tmp_path: Path) -> None:
    path = tmp_path / "snapshots_only.db"
    AsapSnapshotStore(path).save(asap_snapshots(1, 1)[0])
    done = run_cli("index", path)
    assert done.returncode == cli.EXIT_DATABASE and "no usage_events table" in done.stderr
    assert run_cli("index", tmp_path / "missing.db").returncode == cli.EXIT_DATABASE


# ---------------------------------------------------------------- export and import


def test_export_writes_one_object_per_version(asap_file: Path) -> None:
    done = run_cli("export", asap_file)
    assert done.returncode == 0, done.stderr
    assert "exported 24 snapshot versions of 4 tasks" in done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 24
    first = json.loads(lines[0])
    assert list(first) == ["task_id", "version", "id", "data", "checkpoint", "created_at"]
    assert first["task_id"] == "task_0" and first["version"] == 1 and first["id"] == "snap_0_1"
    assert first["checkpoint"] is False
    assert first["created_at"] == (T0 + timedelta(minutes=1)).isoformat()
    assert first["data"]["big"] == 2**80 + 1 and math.isnan(first["data"]["nan"])
    assert first["data"]["nested"] == {"list": [1, 2.5, None, True], "text": "héllo ✓"}
    only = run_cli("export", asap_file, "--task", "task_2").stdout.splitlines()
    assert [json.loads(line)["version"] for line in only] == [1, 2, 3, 4, 5, 6]
    assert {json.loads(line)["task_id"] for line in only} == {"task_2"}


def test_export_import_round_trip_read_back_by_asap(asap_file: Path, tmp_path: Path) -> None:
    exported = tmp_path / "snapshots.jsonl"
    done = run_cli("export", asap_file, "--output", exported, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["versions"] == 24
    target = tmp_path / "restored.db"
    done = run_cli("import", target, exported, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"] == 24
    again = run_cli("export", target).stdout
    assert again == exported.read_text()
    # asap-protocol reads the imported snapshots as the ones it wrote.
    theirs, ours = AsapSnapshotStore(asap_file), AsapSnapshotStore(target)
    for snapshot in asap_snapshots():
        got = ours.get(snapshot.task_id, snapshot.version)
        want = theirs.get(snapshot.task_id, snapshot.version)
        assert got is not None and want is not None
        assert got.model_dump(exclude={"data"}) == want.model_dump(exclude={"data"})
        assert json.dumps(got.data, sort_keys=False) == json.dumps(want.data, sort_keys=False)
    # From stdin too, replacing what is there.
    done = run_cli("import", target, "-", stdin=exported.read_text())
    assert done.returncode == 0 and "imported 24 snapshot versions" in done.stdout


def test_import_rejects_lines_that_are_not_snapshots(tmp_path: Path) -> None:
    target = tmp_path / "target.db"
    good = json.dumps(
        {
            "task_id": "t",
            "version": 1,
            "id": "s",
            "data": {},
            "checkpoint": False,
            "created_at": "2024-05-17T00:00:00+00:00",
        }
    )
    cases = {
        "not json": "line 2: not JSON",
        "[1, 2]": "line 2: not a JSON object",
        json.dumps({"task_id": "t"}): "line 2: missing version, id, data",
        good.replace('"version": 1', '"version": true'): "version must be an integer",
        good.replace('"data": {}', '"data": []'): "data must be a JSON object",
        good[:-1] + ', "extra": 1}': "unknown field(s) extra",
        good.replace("2024-05-17T00:00:00+00:00", "yesterday"): "line 2: ",
    }
    for line, message in cases.items():
        source = tmp_path / "in.jsonl"
        source.write_text(good + "\n" + line + "\n")
        done = run_cli("import", target, source)
        assert done.returncode == cli.EXIT_BAD_INPUT, (line, done.stdout, done.stderr)
        assert message in done.stderr, (line, done.stderr)
        assert "Traceback" not in done.stderr
    assert run_cli("import", target, tmp_path / "nope.jsonl").returncode == cli.EXIT_USAGE


def test_export_of_a_file_without_snapshots(tmp_path: Path) -> None:
    path = tmp_path / "metering_only.db"

    async def record() -> None:
        await AsapMeteringStore(path).record(make_event())

    asyncio.run(record())
    done = run_cli("export", path)
    assert done.returncode == 0 and done.stdout == ""
    assert "exported 0 snapshot versions" in done.stderr


# ---------------------------------------------------------------- progress bars


def run_on_a_terminal(*args: str | Path, hide_rich: bool = False) -> tuple[int, str]:
    """Runs the CLI with stderr on a pseudo-terminal; returns (status, what it drew)."""
    code = "import sys\n"
    if hide_rich:
        code += "sys.modules['rich'] = None\n"  # import rich fails, as when not installed
    code += "from asap_native.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
    ) as process:
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
        status = process.wait(timeout=120)
    os.close(leader)
    return status, drawn.decode(errors="replace")


def test_progress_bar_on_a_terminal_and_none_without_rich(asap_file: Path, tmp_path: Path) -> None:
    status, drawn = run_on_a_terminal("backup", asap_file, tmp_path / "a.db")
    assert status == 0
    assert "backup" in drawn and "━" in drawn  # rich's bar
    status, drawn = run_on_a_terminal("backup", asap_file, tmp_path / "b.db", hide_rich=True)
    assert status == 0 and "━" not in drawn
    status, drawn = run_on_a_terminal("backup", asap_file, tmp_path / "c.db", "--no-progress")
    assert status == 0 and "━" not in drawn
    assert (tmp_path / "b.db").stat().st_size == (tmp_path / "c.db").stat().st_size
