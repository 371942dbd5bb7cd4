"""``asap-native`` / ``python -m asap_native``: look after a store's SQLite file.

Subcommands: ``info``, ``check``, ``backup``, ``prune``, ``index``, ``export``, ``import``
(``--help`` on each). ``info``, ``check``, ``backup`` and ``export`` open the file read-only
and change nothing in it; ``prune`` deletes a bounded chunk per transaction, so servers
writing to the file meanwhile wait for one chunk at most; ``index`` adds or drops the metering
store's instant index; ``import`` writes through the snapshot store.

Exit status: 0 done (``check``: the file is healthy), 1 ``check`` found problems, 2 wrong
arguments, 3 the database cannot be used (missing, not a database, locked, an I/O error, a
backup destination that exists), 4 an ``import`` line that is not a snapshot.

Progress bars (on a terminal, on stderr) need the ``cli`` extra
(``pip install 'asap-native[cli]'``, which brings ``rich``); without it the commands work the
same, without a bar.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, NoReturn

import asap_native
from asap_native import _core
from asap_native.errors import NotADatabaseError, StoreError
from asap_native.maintenance import (
    BACKUP_PAGES_PER_STEP,
    DEFAULT_CHUNK_SIZE,
    MAX_INTEGRITY_ERRORS,
    check_report,
    run_rule,
)

__all__ = ["EXIT_BAD_INPUT", "EXIT_DATABASE", "EXIT_OK", "EXIT_UNHEALTHY", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_UNHEALTHY = 1
EXIT_USAGE = 2
EXIT_DATABASE = 3
EXIT_BAD_INPUT = 4

PROG = "asap-native"
EXPORT_PAGE = 1000  # snapshot rows read per query by export
IMPORT_BATCH = 500  # snapshots saved concurrently (one group commit) by import
EXPORT_FIELDS = ("task_id", "version", "id", "data", "checkpoint", "created_at")
INSTANT_INDEX = "asap_native_usage_instant"

EPILOG = """\
exit status:
  0  done (check: the file is healthy)
  1  check found problems (integrity or schema)
  2  wrong arguments
  3  the database cannot be used (missing, not a database, locked, I/O error,
     a backup destination that exists)
  4  import: a line that is not a snapshot

Progress bars need the 'cli' extra: pip install 'asap-native[cli]' (rich).
"""


class CommandError(Exception):
    """A failure reported as one line on stderr with an exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------- output


@dataclass
class Output:
    """Where results go: human lines or one JSON document on stdout."""

    json: bool
    stream: IO[str]

    def emit(self, document: dict[str, Any], lines: Sequence[str]) -> None:
        if self.json:
            self.stream.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
        else:
            for line in lines:
                self.stream.write(line + "\n")
        self.stream.flush()


class Bar:
    """A progress bar on stderr (rich, when installed and stderr is a terminal), or nothing."""

    def __init__(self, description: str, total: int | None, enabled: bool) -> None:
        self._progress: Any = None
        self._task: Any = None
        if not enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
        except ImportError:
            return
        console = Console(stderr=True)
        if not console.is_terminal:
            return
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total)

    @property
    def shown(self) -> bool:
        return self._progress is not None

    def update(self, completed: int, total: int | None = None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@contextlib.contextmanager
def progress_bar(description: str, total: int | None, enabled: bool) -> Iterator[Bar]:
    bar = Bar(description, total, enabled)
    try:
        yield bar
    finally:
        bar.close()


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def _file_bytes(path: str | os.PathLike[str]) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


# ---------------------------------------------------------------- opening


def _open(db: str, *, read_only: bool, timeout: float) -> _core.NativeMaintenance:
    if read_only and not os.path.exists(db):
        raise CommandError(f"{db}: no such database file", EXIT_DATABASE)
    try:
        return _core.open_sqlite_maintenance(db, "normal", timeout, read_only)
    except (StoreError, OSError) as error:
        raise CommandError(f"{db}: {error}", EXIT_DATABASE) from error


def _database_error(db: str, error: Exception) -> CommandError:
    return CommandError(f"{db}: {error}", EXIT_DATABASE)


# ---------------------------------------------------------------- info


def cmd_info(args: argparse.Namespace, out: Output) -> int:
    handle = _open(args.db, read_only=True, timeout=args.timeout)
    try:
        info = handle.info()
        schema = handle.schema()
    except (StoreError, OSError) as error:
        raise _database_error(args.db, error) from error
    finally:
        handle.close()
    wal = f"{args.db}-wal"
    document = {
        "path": str(Path(args.db).resolve()),
        "file_bytes": _file_bytes(args.db),
        "wal_bytes": _file_bytes(wal),
        "sqlite_version": asap_native.sqlite_version,
        "journal_mode": info["journal_mode"],
        "page_size": info["page_size"],
        "page_count": info["page_count"],
        "freelist_pages": info["freelist_pages"],
        "tables": info["tables"],
        "indexes": info["indexes"],
        "asap_schema": {
            "compatible": not schema["problems"],
            "problems": schema["problems"],
            "notes": schema["notes"],
        },
    }
    width = max([len(name) for name in info["tables"]] + [5])
    lines = [
        f"file:          {document['path']} ({_size(document['file_bytes'])}, "
        f"WAL {_size(document['wal_bytes'])})",
        f"SQLite:        {asap_native.sqlite_version} (asap-native's)",
        f"journal mode:  {info['journal_mode']}, {info['page_count']} pages of "
        f"{info['page_size']} B, {info['freelist_pages']} free",
        "tables:" if info["tables"] else "tables:        none",
    ]
    lines += [f"  {name:<{width}}  {rows:>12,} rows" for name, rows in info["tables"].items()]
    lines.append("indexes:       " + (", ".join(info["indexes"]) or "none"))
    if schema["problems"]:
        lines.append("asap-protocol: NOT compatible")
        lines += [f"  problem: {problem}" for problem in schema["problems"]]
    else:
        lines.append("asap-protocol: compatible (its stores read and write this file)")
    lines += [f"  note: {note}" for note in schema["notes"]]
    out.emit(document, lines)
    return EXIT_OK


# ---------------------------------------------------------------- check


def _unhealthy(args: argparse.Namespace, out: Output, error: Exception) -> int:
    """The verdict on a file too damaged to be read at all."""
    document = {
        "ok": False,
        "quick": args.quick,
        "integrity_errors": [str(error)],
        "schema_problems": [],
        "schema_notes": [],
    }
    out.emit(document, [f"{args.db}: UNHEALTHY: {error}"])
    return EXIT_UNHEALTHY


def cmd_check(args: argparse.Namespace, out: Output) -> int:
    try:
        handle = _open(args.db, read_only=True, timeout=args.timeout)
    except CommandError as error:
        if isinstance(error.__cause__, NotADatabaseError):
            return _unhealthy(args, out, error.__cause__)
        raise
    try:
        report = check_report(handle.check(args.quick, MAX_INTEGRITY_ERRORS), args.quick)
    except NotADatabaseError as error:  # too damaged to be read at all
        return _unhealthy(args, out, error)
    except (StoreError, OSError) as error:
        raise _database_error(args.db, error) from error
    finally:
        handle.close()
    document = report.as_dict()
    kind = "quick_check" if args.quick else "integrity_check"
    lines = []
    if report.ok:
        lines.append(f"{args.db}: healthy ({kind} ok, schema compatible with asap-protocol)")
    else:
        lines.append(f"{args.db}: UNHEALTHY")
        lines += [f"  integrity: {line}" for line in report.integrity_errors]
        lines += [f"  schema: {line}" for line in report.schema_problems]
    lines += [f"  note: {note}" for note in report.schema_notes]
    out.emit(document, lines)
    return EXIT_OK if report.ok else EXIT_UNHEALTHY


# ---------------------------------------------------------------- backup


def cmd_backup(args: argparse.Namespace, out: Output) -> int:
    if os.path.lexists(args.dest):
        raise CommandError(f"{args.dest}: exists (a backup goes to a new file)", EXIT_DATABASE)
    handle = _open(args.db, read_only=True, timeout=args.timeout)
    started = time.perf_counter()
    pages = 0
    try:
        with progress_bar("backup", None, args.progress) as bar:

            def report(copied: int, total: int) -> None:
                nonlocal pages
                pages = total
                bar.update(copied, total)

            handle.backup(args.dest, BACKUP_PAGES_PER_STEP, report)
    except FileExistsError as error:
        raise CommandError(
            f"{args.dest}: exists (a backup goes to a new file)", EXIT_DATABASE
        ) from error
    except (StoreError, OSError) as error:
        raise _database_error(args.db, error) from error
    finally:
        handle.close()
    seconds = time.perf_counter() - started
    size = _file_bytes(args.dest)
    document = {
        "source": str(Path(args.db).resolve()),
        "dest": str(Path(args.dest).resolve()),
        "bytes": size,
        "pages": pages,
        "seconds": round(seconds, 3),
    }
    out.emit(document, [f"backed up {args.db} to {args.dest}: {_size(size)} in {seconds:.2f} s"])
    return EXIT_OK


# ---------------------------------------------------------------- prune


def parse_instant(text: str) -> datetime:
    """An ISO-8601 date or date and time; naive means UTC ('Z' accepted)."""
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 date or time: {text!r} (e.g. 2024-05-17 or 2024-05-17T08:30:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {number}")
    return number


def _run_rule(rule: _core.NativeRetention, label: str, enabled: bool) -> int:
    total = rule.count_remaining() if enabled else None
    with progress_bar(label, total, enabled) as bar:
        return run_rule(
            rule,
            lambda deleted: bar.update(
                deleted, max(total or 0, deleted) if total is not None else None
            ),
        )


def cmd_prune(args: argparse.Namespace, out: Output) -> int:
    if args.keep_last is None and args.usage_before is None:
        raise CommandError("prune needs --keep-last N and/or --usage-before DATE", EXIT_USAGE)
    if args.task is not None and args.keep_last is None:
        raise CommandError("--task goes with --keep-last", EXIT_USAGE)
    if not os.path.exists(args.db):
        raise CommandError(f"{args.db}: no such database file", EXIT_DATABASE)
    handle = _open(args.db, read_only=False, timeout=args.timeout)
    started = time.perf_counter()
    document: dict[str, Any] = {"path": str(Path(args.db).resolve())}
    lines = []
    try:
        if args.keep_last is not None:
            rule = handle.snapshot_retention(args.task, args.keep_last, args.chunk_size)
            deleted = _run_rule(rule, "snapshot versions", args.progress)
            document["snapshots_deleted"] = deleted
            scope = f"task {args.task!r}" if args.task is not None else "every task"
            lines.append(
                f"deleted {deleted:,} snapshot versions (kept the {args.keep_last} highest of "
                f"{scope})"
            )
        if args.usage_before is not None:
            rule = handle.usage_retention(args.usage_before, args.chunk_size)
            deleted = _run_rule(rule, "usage events", args.progress)
            document["usage_events_deleted"] = deleted
            lines.append(f"deleted {deleted:,} usage events before {args.usage_before.isoformat()}")
    except (StoreError, OSError) as error:
        raise _database_error(args.db, error) from error
    finally:
        handle.close()
    document["seconds"] = round(time.perf_counter() - started, 3)
    out.emit(document, lines)
    return EXIT_OK


# ---------------------------------------------------------------- index


def cmd_index(args: argparse.Namespace, out: Output) -> int:
    if not os.path.exists(args.db):
        raise CommandError(f"{args.db}: no such database file", EXIT_DATABASE)
    handle = _open(args.db, read_only=False, timeout=args.timeout)
    started = time.perf_counter()
    try:
        if "usage_events" not in handle.info()["tables"]:
            raise CommandError(f"{args.db}: no usage_events table", EXIT_DATABASE)
        changed = handle.instant_index(not args.drop)
    except (StoreError, OSError) as error:
        raise _database_error(args.db, error) from error
    finally:
        handle.close()
    seconds = time.perf_counter() - started
    present = not args.drop
    document = {
        "index": INSTANT_INDEX,
        "present": present,
        "changed": changed,
        "seconds": round(seconds, 3),
    }
    if changed:
        line = f"{'built' if present else 'dropped'} {INSTANT_INDEX} in {seconds:.2f} s"
    else:
        line = f"{INSTANT_INDEX} was already {'there' if present else 'absent'}"
    out.emit(document, [line])
    return EXIT_OK


# ---------------------------------------------------------------- export


def export_line(row: tuple[str, int, str, str, bool, str]) -> str:
    """One snapshot version as a JSON line (``data`` as the JSON object it stores)."""
    task_id, version, id_, data, checkpoint, created_at = row
    try:
        value = json.loads(data)
    except ValueError as error:
        raise CommandError(
            f"snapshot of task {task_id!r} version {version}: its data is not JSON ({error})",
            EXIT_DATABASE,
        ) from error
    document = {
        "task_id": task_id,
        "version": version,
        "id": id_,
        "data": value,
        "checkpoint": checkpoint,
        "created_at": created_at,
    }
    return json.dumps(document, separators=(",", ":"))


def cmd_export(args: argparse.Namespace, out: Output) -> int:
    handle = _open(args.db, read_only=True, timeout=args.timeout)
    to_file = args.output is not None and args.output != "-"
    target: IO[str] = open(args.output, "w", encoding="ascii") if to_file else sys.stdout  # noqa: SIM115
    versions = 0
    tasks: set[str] = set()
    try:
        total = None
        if args.progress and to_file:
            total = handle.info()["tables"].get("snapshots", 0)
        with progress_bar("export", total, args.progress and to_file) as bar:
            after_task: str | None = None
            after_version = 0
            while True:
                try:
                    rows = handle.snapshot_rows(args.task, after_task, after_version, EXPORT_PAGE)
                except (StoreError, OSError) as error:
                    if "no such table: snapshots" in str(error):
                        break  # a file without snapshots exports nothing
                    raise _database_error(args.db, error) from error
                for row in rows:
                    target.write(export_line(row) + "\n")
                    tasks.add(row[0])
                versions += len(rows)
                bar.update(versions)
                if len(rows) < EXPORT_PAGE:
                    break
                after_task, after_version = rows[-1][0], rows[-1][1]
        target.flush()
    finally:
        handle.close()
        if to_file:
            target.close()
    summary = {"versions": versions, "tasks": len(tasks), "output": args.output or "-"}
    message = f"exported {versions:,} snapshot versions of {len(tasks):,} tasks"
    # The data went to stdout: the summary goes to stderr.
    report = Output(out.json, out.stream if to_file else sys.stderr)
    report.emit(summary, [message])
    return EXIT_OK


# ---------------------------------------------------------------- import


@dataclass(frozen=True)
class ImportedSnapshot:
    """An export line as the snapshot store reads a snapshot."""

    id: str
    task_id: str
    version: int
    data: dict[str, Any]
    checkpoint: bool
    created_at: str


def snapshot_of_line(line: str, number: int, source: str) -> ImportedSnapshot:
    """The snapshot an export line describes; CommandError (EXIT_BAD_INPUT) for anything else."""

    def bad(why: str) -> NoReturn:
        raise CommandError(f"{source} line {number}: {why}", EXIT_BAD_INPUT)

    try:
        document = json.loads(line)
    except ValueError as error:
        bad(f"not JSON ({error})")
    if not isinstance(document, dict):
        bad("not a JSON object")
    missing = [key for key in EXPORT_FIELDS if key not in document]
    if missing:
        bad(f"missing {', '.join(missing)}")
    extra = sorted(set(document) - set(EXPORT_FIELDS))
    if extra:
        bad(f"unknown field(s) {', '.join(extra)}")
    task_id, version, id_ = document["task_id"], document["version"], document["id"]
    data, checkpoint, created_at = document["data"], document["checkpoint"], document["created_at"]
    if not isinstance(task_id, str) or not isinstance(id_, str):
        bad("task_id and id must be strings")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        bad("version must be an integer >= 1")
    if not isinstance(data, dict):
        bad("data must be a JSON object")
    if not isinstance(checkpoint, bool):
        bad("checkpoint must be true or false")
    if not isinstance(created_at, str):
        bad("created_at must be an ISO-8601 string")
    return ImportedSnapshot(id_, task_id, version, data, checkpoint, created_at)


def _lines(source: IO[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(source, start=1):
        if line.strip():
            yield number, line


async def _import(db: str, source: IO[str], name: str, timeout: float, bar: Bar) -> int:
    imported = 0
    async with asap_native.SQLiteAsyncSnapshotStore(db, timeout=timeout) as store:
        batch: list[tuple[int, ImportedSnapshot]] = []

        async def flush() -> None:
            nonlocal imported
            results = await asyncio.gather(
                *(store.save(snapshot) for _, snapshot in batch), return_exceptions=True
            )
            for (number, _), result in zip(batch, results, strict=True):
                if isinstance(result, (TypeError, ValueError)):
                    raise CommandError(f"{name} line {number}: {result}", EXIT_BAD_INPUT)
                if isinstance(result, BaseException):
                    raise result
            imported += len(batch)
            bar.update(imported)
            batch.clear()

        for number, line in _lines(source):
            batch.append((number, snapshot_of_line(line, number, name)))
            if len(batch) >= IMPORT_BATCH:
                await flush()
        if batch:
            await flush()
    return imported


def cmd_import(args: argparse.Namespace, out: Output) -> int:
    from_stdin = args.file == "-"
    name = "stdin" if from_stdin else args.file
    if not from_stdin and not os.path.isfile(args.file):
        raise CommandError(f"{args.file}: no such file", EXIT_USAGE)
    source: IO[str] = sys.stdin if from_stdin else open(args.file, encoding="utf-8")  # noqa: SIM115
    try:
        with progress_bar("import", None, args.progress and not from_stdin) as bar:
            imported = asyncio.run(_import(args.db, source, name, args.timeout, bar))
    except (StoreError, OSError) as error:
        raise _database_error(args.db, error) from error
    finally:
        if not from_stdin:
            source.close()
    document = {"path": str(Path(args.db).resolve()), "imported": imported}
    out.emit(document, [f"imported {imported:,} snapshot versions into {args.db}"])
    return EXIT_OK


# ---------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Look after an ASAP server's SQLite state file (asap-protocol's "
        "snapshots and usage_events tables): figures, checks, backups, retention, export.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {asap_native.__version__}"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    common.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar (there is none unless stderr is a terminal and rich is installed)",
    )
    common.add_argument(
        "--timeout",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="how long to wait for another connection's lock (default 15)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str, summary: str, func: Callable[..., int], db_help: str = "the database file"
    ) -> argparse.ArgumentParser:
        """A subcommand; each takes the database file first."""
        sub = commands.add_parser(
            name,
            parents=[common],
            help=summary,
            description=summary,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(func=func)
        sub.add_argument("db", metavar="DB", help=db_help)
        return sub

    command(
        "info",
        "tables and row counts, file and WAL size, SQLite version, schema compatibility with "
        "asap-protocol (read-only)",
        cmd_info,
    )

    check = command(
        "check",
        "integrity check and schema compatibility; exit 0 when healthy, 1 when not (read-only)",
        cmd_check,
    )
    check.add_argument(
        "--quick", action="store_true", help="quick_check: skip checking indexes against tables"
    )

    backup = command(
        "backup",
        "a consistent copy into a new file while other processes go on writing (read-only)",
        cmd_backup,
    )
    backup.add_argument("dest", metavar="DEST", help="the copy to create (must not exist)")

    prune = command(
        "prune",
        "delete old snapshot versions and/or usage events, a bounded chunk per transaction",
        cmd_prune,
    )
    prune.add_argument(
        "--keep-last",
        type=positive_int,
        metavar="N",
        help="keep the N highest versions of each task's snapshots, delete the rest",
    )
    prune.add_argument("--task", metavar="T", help="with --keep-last: only task T")
    prune.add_argument(
        "--usage-before",
        type=parse_instant,
        metavar="DATE",
        help="delete the usage events before DATE (ISO-8601; without an offset, UTC)",
    )
    prune.add_argument(
        "--chunk-size",
        type=positive_int,
        default=DEFAULT_CHUNK_SIZE,
        metavar="ROWS",
        help=f"rows deleted per transaction (default {DEFAULT_CHUNK_SIZE})",
    )

    index = command(
        "index",
        f"add (or with --drop remove) {INSTANT_INDEX}: time windows then read only the "
        "rows in the window; asap-protocol keeps reading and writing the file",
        cmd_index,
    )
    index.add_argument("--drop", action="store_true", help="remove the index instead")

    export = command(
        "export",
        "snapshots as JSON lines, one object per version: task_id, version, id, data, "
        "checkpoint, created_at (read-only)",
        cmd_export,
    )
    export.add_argument("--task", metavar="T", help="only task T")
    export.add_argument(
        "--output", "-o", metavar="FILE", help="write the lines to FILE (default: stdout)"
    )

    importer = command(
        "import",
        "save the snapshots of JSON lines (as export writes them) into DB, replacing any "
        "with the same task and version",
        cmd_import,
        db_help="the database file (created if missing)",
    )
    importer.add_argument("file", metavar="FILE", help="the JSON lines ('-': stdin)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Output(json=args.json, stream=sys.stdout)
    try:
        status: int = args.func(args, out)
    except CommandError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (| head): nothing more to say.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_OK
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
