"""asap-protocol's SQLite repository, its own methods vs after ``install()`` (issue 10).

Three calls every SQLite store of asap-protocol is made of, timed one awaited call at a time
on a file database (WAL), each run on a fresh file:

- ``execute``: ``AsyncSqliteRepository.execute("INSERT ...", params)``, a write and its commit;
- ``fetch_one``: ``AsyncSqliteRepository.fetch_one("SELECT ... WHERE k = ?", ...)`` on a table
  of ``ROWS`` rows;
- ``audit append``: ``asap.economics.audit.SQLiteAuditStore.append(entry)`` (reads the last
  hash, inserts the sealed entry, commits: asap's code, on whatever connection ``_connect``
  yields).

``asap`` is the repository as shipped (an aiosqlite connection, and so a thread, per call);
``native`` the same classes after ``asap_native.integration.install(repository=True)`` (only
the repository part; ``uninstall()`` after each run), so asap's subclass code runs unchanged
on the native engine. Runs alternate between the two in a shuffled order per round; the
figure is the median of every call's time over all rounds. Every aiosqlite connection opened
is counted (``aiosqlite.Connection.__init__``): after ``install()`` there must be none.

Run through ``bench/run.py`` (``make bench``) or directly: ``python bench/bench_repository.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: the repo root makes the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

TITLE = "asap-protocol's SQLite repository: its own vs after install()"
ASAP = "asap"
NATIVE = "native"
IMPLEMENTATIONS = (ASAP, NATIVE)
OPS = ("execute", "fetch_one", "audit append")
# Speed targets: how many times asap's median call time the native one must be under.
TARGETS = {"execute": 20.0, "fetch_one": 20.0, "audit append": 10.0}
ROWS = 1000
VALUE = "v" * 200
KV_DDL = "CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"
INSERT_SQL = "INSERT INTO kv (k, v) VALUES (?, ?)"
SELECT_SQL = "SELECT v FROM kv WHERE k = ?"
AGENT = "urn:asap:agent:bench"

# Calls per run (asap, native), rounds, untimed warm-up calls per run. Sized for the module
# to take about a minute on a loaded 2-core VM (asap's calls take milliseconds each).
PLANS: dict[str, dict[str, Any]] = {
    "full": {"calls": (150, 2000), "rounds": 5, "warmup": 5},
    "quick": {"calls": (5, 20), "rounds": 1, "warmup": 1},
}


@contextlib.contextmanager
def counting_aiosqlite_connections() -> Iterator[list[int]]:
    """Counts every aiosqlite connection made while inside (``counter[0]``), however it was
    reached (``aiosqlite.connect``, a module that bound it, a subclass)."""
    import aiosqlite

    counter = [0]
    original = aiosqlite.Connection.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        counter[0] += 1
        original(self, *args, **kwargs)

    aiosqlite.Connection.__init__ = counted  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        aiosqlite.Connection.__init__ = original  # type: ignore[method-assign]


@contextlib.contextmanager
def repository_as(impl: str) -> Iterator[None]:
    """asap's repository methods as shipped (``asap``) or swapped by install() (``native``)."""
    if impl == ASAP:
        yield
        return
    from asap_native import integration

    integration.install(stores=False, repository=True, compression=False)
    try:
        yield
    finally:
        integration.uninstall()


def _fill(path: Path) -> None:
    """``ROWS`` rows for fetch_one, written with sqlite3 (the same file for both)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(KV_DDL)
        with conn:
            conn.executemany(INSERT_SQL, ((k, VALUE) for k in range(ROWS)))
    finally:
        conn.close()


def _audit_entry(n: int) -> Any:
    from asap.economics.audit import AuditEntry

    return AuditEntry(
        timestamp=datetime(2025, 1, 1, tzinfo=timezone.utc),
        operation="task.completed",
        agent_urn=AGENT,
        details={"n": n, "tokens": 1234, "note": "bench"},
    )


def _call_maker(op: str, path: Path) -> tuple[Any, Callable[[int], Awaitable[Any]]]:
    """The repository a run uses and its call number ``n``."""
    if op == "audit append":
        from asap.economics.audit import SQLiteAuditStore

        audit = SQLiteAuditStore(str(path))
        return audit, lambda n: audit.append(_audit_entry(n))
    from asap.state.stores._sqlite_base import AsyncSqliteRepository

    repository = AsyncSqliteRepository(path, schema_ddl=KV_DDL)
    if op == "execute":
        return repository, lambda n: repository.execute(INSERT_SQL, (n, VALUE))

    async def fetch(n: int) -> Any:
        row = await repository.fetch_one(SELECT_SQL, (n % ROWS,))
        if row != (VALUE,):
            raise AssertionError(f"fetch_one({n % ROWS}) returned {row!r}")
        return row

    return repository, fetch


async def _timed_calls(op: str, path: Path, calls: int, warmup: int) -> tuple[list[int], int]:
    """Each call's time in ns; the rows the run left (checked by the caller)."""
    repository, call = _call_maker(op, path)
    for n in range(warmup):
        await call(-1 - n)
    clock = time.perf_counter_ns
    times = []
    for n in range(calls):
        started = clock()
        await call(n)
        times.append(clock() - started)
    if op == "audit append" and not await repository.verify_chain():
        raise AssertionError("the audit hash chain is broken")
    table = "audit_log" if op == "audit append" else "kv"
    row = await repository.fetch_one(f"SELECT COUNT(*) FROM {table}")
    return times, int(row[0])


def _one_run(impl: str, op: str, path: Path, calls: int, warmup: int) -> tuple[list[int], int]:
    """One run of ``op`` by ``impl``; returns the call times and the aiosqlite connections
    opened during it."""
    if op == "fetch_one":
        _fill(path)
    expected = ROWS if op == "fetch_one" else calls + warmup
    gc.collect()
    with counting_aiosqlite_connections() as opened, repository_as(impl):
        times, rows = asyncio.run(_timed_calls(op, path, calls, warmup))
    if rows != expected:
        raise AssertionError(f"{impl} {op}: {rows} rows, expected {expected}")
    gc.collect()  # the native engine of the run's repository closes with it
    return times, opened[0]


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def measure(plan: dict[str, Any], tmp: Path, report: common.Progress) -> dict[str, Any]:
    slow_calls, fast_calls = plan["calls"]
    jobs = [(impl, op) for impl in IMPLEMENTATIONS for op in OPS]
    times: dict[tuple[str, str], list[int]] = {job: [] for job in jobs}
    opened: dict[str, int] = dict.fromkeys(IMPLEMENTATIONS, 0)
    rng = random.Random(10)
    total = plan["rounds"] * len(jobs)
    for r in range(plan["rounds"]):
        order = list(jobs)
        rng.shuffle(order)
        for k, (impl, op) in enumerate(order):
            report((r * len(jobs) + k) / total, f"round {r + 1}/{plan['rounds']}: {impl} {op}")
            path = tmp / f"{r}-{impl}-{op.replace(' ', '-')}.db"
            calls = slow_calls if impl == ASAP else fast_calls
            run_times, run_opened = _one_run(impl, op, path, calls, plan["warmup"])
            times[impl, op] += run_times
            opened[impl] += run_opened
            _remove(path)
    report(1.0, "done")
    return {
        "median_us": {
            impl: {op: statistics.median(times[impl, op]) / 1000 for op in OPS}
            for impl in IMPLEMENTATIONS
        },
        "p99_us": {
            impl: {op: common.percentile(times[impl, op], 99) / 1000 for op in OPS}
            for impl in IMPLEMENTATIONS
        },
        "calls": {impl: {op: len(times[impl, op]) for op in OPS} for impl in IMPLEMENTATIONS},
        "aiosqlite_connections": opened,
        "rounds": plan["rounds"],
    }


def _checks(figures: dict[str, Any]) -> list[common.Check]:
    medians = figures["median_us"]
    checks = []
    for op in OPS:
        ratio = medians[ASAP][op] / medians[NATIVE][op]
        target = TARGETS[op]
        checks.append(
            common.Check(f"{op}: asap / native", ratio, f">= {target:g}", ratio >= target)
        )
    opened = figures["aiosqlite_connections"][NATIVE]
    checks.append(
        common.Check(
            "aiosqlite connections opened after install()",
            float(opened),
            "< 1",
            opened == 0,
            unit="connections",
        )
    )
    return checks


def _us(value: float) -> str:
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.0f} µs"


def _markdown(figures: dict[str, Any], checks: list[common.Check], quick: bool) -> str:
    medians, p99, calls = figures["median_us"], figures["p99_us"], figures["calls"]
    opened = figures["aiosqlite_connections"]
    lines = [
        "One awaited call at a time on a WAL file database, a fresh file per run. *asap*: "
        "asap-protocol's `AsyncSqliteRepository` and `SQLiteAuditStore` as shipped (an "
        "aiosqlite connection, and its thread, per call); *native*: the same classes after "
        "`install(repository=True)`, subclass code unchanged. Runs of the two alternate in a "
        f"shuffled order over {figures['rounds']} rounds; medians and p99 over every call. "
        f"`fetch_one` reads one row by primary key from {ROWS} rows.",
        "",
        "| call | asap median | native median | asap / native | asap p99 | native p99 | calls "
        "(asap, native) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for op in OPS:
        ratio = medians[ASAP][op] / medians[NATIVE][op]
        lines.append(
            f"| {op} | {_us(medians[ASAP][op])} | {_us(medians[NATIVE][op])} | {ratio:.1f}x | "
            f"{_us(p99[ASAP][op])} | {_us(p99[NATIVE][op])} | "
            f"{calls[ASAP][op]:,}, {calls[NATIVE][op]:,} |"
        )
    lines += [
        "",
        f"aiosqlite connections opened (counted at `aiosqlite.Connection.__init__`): "
        f"{opened[ASAP]:,} by asap's methods, {opened[NATIVE]} after `install()`.",
        "",
        *common.targets_table(checks),
    ]
    return "\n".join(lines)


run = common.Benchmark("repository", TITLE, PLANS, measure, _checks, _markdown)


if __name__ == "__main__":
    common.main(run, __doc__)
