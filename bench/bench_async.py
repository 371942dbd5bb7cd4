"""Awaitable store benchmark (issue 3): 1, 8 and 64 concurrent asyncio tasks doing save or get.

Implementations, each on its own fresh temporary database file per run, all with the same
1 KB snapshot data (``bench_stores.make_state(1024)``) and the same snapshot objects:

- ``native async``: ``asap_native.SQLiteAsyncSnapshotStore`` (``save``/``get``);
- ``native save_async``: ``asap_native.SQLiteSnapshotStore.save_async``/``get_async``;
- ``asap async``: asap-protocol's ``asap.state.stores.sqlite.SQLiteAsyncSnapshotStore``;
- ``asap save_async``: asap-protocol's ``SQLiteSnapshotStore.save_async``/``get_async``;
- ``stdlib to_thread``: bench/stdlib_store.py (one ``sqlite3`` connection, WAL,
  ``json.dumps``/``json.loads``) called through ``asyncio.to_thread``, behind a
  ``threading.Lock`` because that store is only safe from one thread at a time.

Method. A run opens a store on a fresh copy of a template database (for ``get``: tasks
``task-0``..``task-63`` with versions 1..3, written by the implementation itself or, for
asap-protocol, with its own DDL and row mapper), warms it up with a few untimed calls, then
starts N worker tasks that each await their calls one after the other (save: versions
1..n of the worker's own task; get: the latest version of the worker's task) while a
monitor task sleeps 1 ms in a loop and records how late it wakes (event-loop lag). Per run:
throughput = calls / wall time of all workers; every call's latency and every lag sample
is kept. Runs are repeated in rounds, each round in a shuffled order, so machine noise
falls on all alike; throughput is the median over runs, latency and lag percentiles are
taken over the samples of all runs pooled. asap-protocol opens a connection (and an
aiosqlite thread) per call, so it gets fewer calls and fewer rounds.

Also measured: this package's sync ``SQLiteSnapshotStore.save`` in a plain loop at
durability "normal" and "full", and the 64-way async save at durability "full" (group
commit pays one fsync per batch instead of one per write).

Run through ``bench/run.py`` (``make bench``) or directly: ``python bench/bench_async.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import shutil
import sqlite3
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: the repo root makes the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asap_native
from asap_native.loop_bridge import bridge_for_running_loop
from bench import common
from bench.bench_stores import make_state
from bench.stdlib_store import StdlibSnapshotStore
from tests_py._async_helpers import LagMonitor, count_rows

TITLE = "Awaitable snapshot stores (asyncio)"
DATA_BYTES = 1024
CONCURRENCY = (1, 8, 64)
OPS = ("save", "get")
GET_TASKS = 64
GET_VERSIONS = 3
LAG_INTERVAL = 0.001

NATIVE_ASYNC = "native async"
NATIVE_SA = "native save_async"
ASAP_ASYNC = "asap async"
ASAP_SA = "asap save_async"
STDLIB = "stdlib to_thread"
IMPLEMENTATIONS = (NATIVE_ASYNC, NATIVE_SA, STDLIB, ASAP_ASYNC, ASAP_SA)
DESCRIPTIONS = {
    NATIVE_ASYNC: "`asap_native.SQLiteAsyncSnapshotStore.save/get`",
    NATIVE_SA: "`asap_native.SQLiteSnapshotStore.save_async/get_async`",
    STDLIB: "`bench/stdlib_store.py` via `asyncio.to_thread` (one connection + lock)",
    ASAP_ASYNC: "asap-protocol `SQLiteAsyncSnapshotStore.save/get`",
    ASAP_SA: "asap-protocol `SQLiteSnapshotStore.save_async/get_async`",
}
SLOW = (ASAP_ASYNC, ASAP_SA)

# Calls per worker task for (fast implementations, asap-protocol), per op and concurrency;
# rounds and warm-up calls for (fast, asap-protocol); sync save calls per run at each
# durability. Sized for the whole module to take about 1.5 minutes on a loaded 2-core VM.
_FULL_PLAN: dict[str, Any] = {
    "per_task": {
        "save": {1: (1500, 20), 8: (300, 3), 64: (50, 1)},
        "get": {1: (1500, 60), 8: (300, 10), 64: (50, 2)},
    },
    "rounds": (7, 3),
    "sync_calls": {"normal": 3000, "full": 300},
    "warmup": (8, 1),
}


def _scaled_down(plan: Any, divisor: int) -> Any:
    """``plan`` with every count divided by ``divisor``, but at least 1 (keys are kept)."""
    if isinstance(plan, dict):
        return {key: _scaled_down(value, divisor) for key, value in plan.items()}
    if isinstance(plan, tuple):
        return tuple(_scaled_down(value, divisor) for value in plan)
    return max(1, plan // divisor)


# The quick plan (a smoke run) is the full one with about 1/75 of the calls and one round.
PLANS: dict[str, dict[str, Any]] = {"full": _FULL_PLAN, "quick": _scaled_down(_FULL_PLAN, 75)}


# ---------------------------------------------------------------- helpers


def _flat_ints(figures: dict[str, Any]) -> dict[str, int]:
    """The integer entries of a stats section (nested percentiles left out)."""
    return {key: value for key, value in figures.items() if isinstance(value, int)}


def _asap_available() -> str | None:
    """None when asap-protocol's SQLite stores import, else why not."""
    try:
        import asap.state.stores.sqlite  # noqa: F401
    except Exception as error:
        return f"asap-protocol not importable: {error}"
    return None


class _LockedStdlib:
    """The stdlib store made safe for ``asyncio.to_thread``'s worker threads."""

    def __init__(self, path: Path) -> None:
        self.store = StdlibSnapshotStore(path)
        self.lock = threading.Lock()

    def save(self, snapshot: Any) -> None:
        with self.lock:
            self.store.save(snapshot)

    def get(self, task_id: str) -> Any:
        with self.lock:
            return self.store.get(task_id)


@dataclass
class _Handle:
    """An open store as the workers see it."""

    save: Callable[[Any], Awaitable[Any]]
    get: Callable[[str], Awaitable[Any]]
    close: Callable[[], Awaitable[None]]
    stats: Callable[[], dict[str, int]] | None = None


def _open(impl: str, path: Path, durability: str) -> _Handle:
    """Open ``impl`` on ``path``; must be called with the run's event loop running."""
    if impl in (NATIVE_ASYNC, NATIVE_SA):
        if impl == NATIVE_ASYNC:
            store: Any = asap_native.SQLiteAsyncSnapshotStore(path, durability=durability)
            save, get = store.save, store.get
        else:
            store = asap_native.SQLiteSnapshotStore(path, durability=durability)
            save, get = store.save_async, store.get_async

        async def close_native() -> None:
            store.close()

        return _Handle(save, get, close_native, lambda: _flat_ints(store.stats()["group_commit"]))
    if impl == STDLIB:
        locked = _LockedStdlib(path)

        async def save_thread(snapshot: Any) -> None:
            await asyncio.to_thread(locked.save, snapshot)

        async def get_thread(task_id: str) -> Any:
            return await asyncio.to_thread(locked.get, task_id)

        async def close_stdlib() -> None:
            locked.store.close()

        return _Handle(save_thread, get_thread, close_stdlib)
    from asap.state.stores import sqlite as asap_sqlite

    if impl == ASAP_ASYNC:
        asap_store: Any = asap_sqlite.SQLiteAsyncSnapshotStore(path)
        save, get = asap_store.save, asap_store.get
    else:
        asap_store = asap_sqlite.SQLiteSnapshotStore(path)
        save, get = asap_store.save_async, asap_store.get_async

    async def close_asap() -> None:
        pass  # asap-protocol opens and closes a connection per call

    return _Handle(save, get, close_asap)


def _checkpoint(path: Path) -> None:
    # Folds the WAL into the main file, so a plain copy of it is the whole database.
    conn = sqlite3.connect(str(path))
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _make_get_template(impl: str, path: Path, snapshots: list[Any]) -> None:
    """A database holding ``snapshots``, written the way ``impl`` writes them."""
    if impl in (NATIVE_ASYNC, NATIVE_SA):
        with asap_native.SQLiteSnapshotStore(path) as native:
            for snapshot in snapshots:
                native.save(snapshot)
    elif impl == STDLIB:
        plain = StdlibSnapshotStore(path)
        for snapshot in snapshots:
            plain.save(snapshot)
        plain.close()
    else:
        # asap-protocol's own DDL, SQL and row mapper, in one transaction: its stores take
        # ~25 ms per save (a connection and a checkpoint per call).
        from asap.state.stores import sqlite as asap_sqlite

        conn = sqlite3.connect(str(path))
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(asap_sqlite._SNAPSHOTS_DDL)
            with conn:
                conn.executemany(
                    asap_sqlite._SAVE_SQL, [asap_sqlite._snapshot_to_row(s) for s in snapshots]
                )
        finally:
            conn.close()
    _checkpoint(path)


# ---------------------------------------------------------------- one run


@dataclass
class _RunResult:
    ops: int
    seconds: float
    latencies_ns: list[int]
    lags_s: list[float]
    stats: dict[str, int] = field(default_factory=dict)
    bridge: dict[str, int] = field(default_factory=dict)
    loop_cpu_s: float = 0.0  # CPU time of the event loop's thread during the timed part
    process_cpu_s: float = 0.0  # CPU time of the whole process (all threads) during it
    loop_runq_s: float | None = None  # time the loop thread was runnable but not running


async def _worker(
    call: Callable[[Any], Awaitable[Any]], items: list[Any], out: list[int], check: bool
) -> None:
    clock = time.perf_counter_ns
    for item in items:
        started = clock()
        result = await call(item)
        out.append(clock() - started)
        if check and result is None:
            raise AssertionError(f"get({item!r}) found nothing: the benchmark data is missing")


def _runqueue_wait_s() -> float | None:
    """Seconds the calling thread has spent runnable but waiting for a CPU (Linux only)."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {
        key: value if key.startswith("largest") else value - before.get(key, 0)
        for key, value in after.items()
    }


async def _async_run(
    impl: str,
    op: str,
    tasks: int,
    work: list[list[Any]],
    warmup: list[Any],
    path: Path,
    durability: str,
) -> _RunResult:
    handle = _open(impl, path, durability)
    native = impl in (NATIVE_ASYNC, NATIVE_SA)
    call = handle.save if op == "save" else handle.get
    try:
        await asyncio.gather(*(call(item) for item in warmup))
        stats_before = handle.stats() if handle.stats else {}
        bridge_before = bridge_for_running_loop().stats() if native else {}
        latencies: list[list[int]] = [[] for _ in range(tasks)]
        # The monitor's first sleep starts before the workers and it stops after them.
        async with LagMonitor(LAG_INTERVAL) as monitor:
            runq_before = _runqueue_wait_s()
            cpu_before = (time.thread_time(), time.process_time())
            started = time.perf_counter()
            await asyncio.gather(
                *(_worker(call, work[k], latencies[k], op == "get") for k in range(tasks))
            )
            seconds = time.perf_counter() - started
            loop_cpu = time.thread_time() - cpu_before[0]
            process_cpu = time.process_time() - cpu_before[1]
            runq_after = _runqueue_wait_s()
        result = _RunResult(
            ops=sum(len(items) for items in work),
            seconds=seconds,
            latencies_ns=[ns for per_task in latencies for ns in per_task],
            lags_s=monitor.lags,
            loop_cpu_s=loop_cpu,
            process_cpu_s=process_cpu,
            loop_runq_s=None if runq_after is None else runq_after - (runq_before or 0.0),
        )
        if handle.stats:
            result.stats = _delta(handle.stats(), stats_before)
        if native:
            result.bridge = _delta(bridge_for_running_loop().stats(), bridge_before)
        return result
    finally:
        await handle.close()


def _sync_save_run(snapshots: list[Any], path: Path, durability: str) -> tuple[float, float]:
    """Calls per second of this package's sync save in a plain loop, and CPU µs per call."""
    with asap_native.SQLiteSnapshotStore(path, durability=durability) as store:
        store.save(snapshots[0])  # opens the statement cache and the WAL
        clock = time.perf_counter
        cpu = time.process_time()
        started = clock()
        for snapshot in snapshots[1:]:
            store.save(snapshot)
        seconds = clock() - started
        cpu = time.process_time() - cpu
    calls = len(snapshots) - 1
    return calls / seconds, cpu / calls * 1e6


# ---------------------------------------------------------------- the benchmark


@dataclass
class _Config:
    impl: str
    op: str
    tasks: int
    durability: str = "normal"
    samples: list[_RunResult] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.impl}|{self.op}|{self.tasks}|{self.durability}"


class _Bench:
    def __init__(self, plan: dict[str, Any], tmp: Path, report: common.Progress) -> None:
        self.plan = plan
        self.tmp = tmp
        self.report = report
        self.model = common.snapshot_model()
        self.data = make_state(DATA_BYTES)
        self.skipped: dict[str, str] = {}
        why = _asap_available()
        self.impls = [i for i in IMPLEMENTATIONS if not (why and i in SLOW)]
        if why:
            for impl in SLOW:
                self.skipped[impl] = why
        self.counter = 0
        self.templates: dict[str, Path] = {}
        self.save_work: dict[tuple[int, int], list[list[Any]]] = {}
        warm_fast, warm_slow = plan["warmup"]
        self.warm_saves = {
            n: common.make_snapshots(self.model, "warm", n, self.data)
            for n in {warm_fast, warm_slow}
        }

    def fresh_path(self, label: str) -> Path:
        self.counter += 1
        safe = "".join(c if c.isalnum() else "-" for c in label)
        return self.tmp / f"{self.counter:04d}-{safe}.db"

    def template(self, impl: str) -> Path:
        family = "native" if impl in (NATIVE_ASYNC, NATIVE_SA) else impl
        if family not in self.templates:
            snapshots = [
                s
                for k in range(GET_TASKS)
                for s in common.make_snapshots(self.model, f"task-{k}", GET_VERSIONS, self.data)
            ]
            path = self.tmp / f"template-{family.replace(' ', '-')}.db"
            _make_get_template(impl, path, snapshots)
            self.templates[family] = path
        return self.templates[family]

    def per_task(self, config: _Config) -> int:
        fast, slow = self.plan["per_task"][config.op][config.tasks]
        return slow if config.impl in SLOW else fast

    def work(self, config: _Config) -> list[list[Any]]:
        n = self.per_task(config)
        if config.op == "get":
            return [[f"task-{k}"] * n for k in range(config.tasks)]
        key = (config.tasks, n)
        if key not in self.save_work:
            self.save_work[key] = [
                common.make_snapshots(self.model, f"save-{k}", n, self.data)
                for k in range(config.tasks)
            ]
        return self.save_work[key]

    def warmup(self, config: _Config) -> list[Any]:
        fast, slow = self.plan["warmup"]
        count = min(config.tasks, slow if config.impl in SLOW else fast)
        if config.op == "get":
            return [f"task-{k}" for k in range(count)]
        return self.warm_saves[fast if config.impl not in SLOW else slow][:count]

    def run_async(self, config: _Config) -> None:
        path = self.fresh_path(config.key)
        if config.op == "get":
            shutil.copyfile(self.template(config.impl), path)
        work = self.work(config)
        gc.collect()
        result = asyncio.run(
            _async_run(
                config.impl,
                config.op,
                config.tasks,
                work,
                self.warmup(config),
                path,
                config.durability,
            )
        )
        if config.op == "save":
            written = count_rows(path, "task_id LIKE ?", ("save-%",))
            if written != result.ops:
                raise AssertionError(f"{config.key}: {written} rows written, {result.ops} saved")
        config.samples.append(result)
        self.remove(path)

    def run_sync(self, durability: str, rates: list[tuple[float, float]]) -> None:
        path = self.fresh_path(f"sync-{durability}")
        count = self.plan["sync_calls"][durability]
        key = ("sync", count)
        if key not in self.save_work:
            self.save_work[key] = [common.make_snapshots(self.model, "sync", count + 1, self.data)]
        gc.collect()
        rates.append(_sync_save_run(self.save_work[key][0], path, durability))
        self.remove(path)

    @staticmethod
    def remove(path: Path) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")

    def idle_lag(self, seconds: float) -> list[float]:
        async def idle() -> list[float]:
            async with LagMonitor(LAG_INTERVAL) as monitor:
                await asyncio.sleep(seconds)
            return monitor.lags

        return asyncio.run(idle())

    def measure(self) -> dict[str, Any]:
        rounds, slow_rounds = self.plan["rounds"]
        configs = [
            _Config(impl, op, tasks) for impl in self.impls for op in OPS for tasks in CONCURRENCY
        ]
        full = _Config(NATIVE_ASYNC, "save", 64, "full")
        configs.append(full)
        slow_in = {round(i * (rounds - 1) / max(1, slow_rounds - 1)) for i in range(slow_rounds)}
        sync_rates: dict[str, list[tuple[float, float]]] = {"normal": [], "full": []}
        idle: list[float] = []
        rng = random.Random(3)
        jobs_total = sum(
            len([c for c in configs if c.impl not in SLOW or r in slow_in]) + 2
            for r in range(rounds)
        )
        done = 0
        for r in range(rounds):
            jobs: list[Any] = [c for c in configs if c.impl not in SLOW or r in slow_in]
            jobs += ["sync normal", "sync full"]
            rng.shuffle(jobs)
            for job in jobs:
                label = job if isinstance(job, str) else f"{job.impl} {job.op} x{job.tasks}"
                self.report(done / jobs_total, f"round {r + 1}/{rounds}: {label}")
                if isinstance(job, str):
                    durability = job.split()[1]
                    self.run_sync(durability, sync_rates[durability])
                else:
                    self.run_async(job)
                done += 1
            idle += self.idle_lag(0.2 if rounds > 1 else 0.05)
        self.report(1.0, "done")
        return {
            "configs": {c.key: _summarise(c, self.per_task(c)) for c in configs},
            "sync_save_ops_per_s": {
                d: {
                    "median": statistics.median(rate for rate, _ in v),
                    "runs": [rate for rate, _ in v],
                    "cpu_us_per_op": statistics.median(cpu for _, cpu in v),
                }
                for d, v in sync_rates.items()
            },
            "idle_lag_us": {
                "p99": common.percentile(idle, 99) * 1e6,
                "max": max(idle) * 1e6,
                "samples": len(idle),
            },
            "skipped": self.skipped,
            "data_bytes": len(asap_native._core._dumps(self.data)),
        }


def _summarise(config: _Config, per_task: int) -> dict[str, Any]:
    runs = config.samples
    latencies = [ns for run in runs for ns in run.latencies_ns]
    lags = [lag for run in runs for lag in run.lags_s]
    throughputs = [run.ops / run.seconds for run in runs]
    out: dict[str, Any] = {
        "impl": config.impl,
        "op": config.op,
        "tasks": config.tasks,
        "durability": config.durability,
        "runs": len(runs),
        "ops_per_run": config.tasks * per_task,
        "ops_per_s": statistics.median(throughputs),
        "ops_per_s_runs": throughputs,
        "p50_us": common.percentile(latencies, 50) / 1000,
        "p99_us": common.percentile(latencies, 99) / 1000,
        "lag_p99_us": common.percentile(lags, 99) * 1e6 if lags else None,
        "lag_max_us": max(lags) * 1e6 if lags else None,
        "lag_samples": len(lags),
        # Where the time goes, per call (medians over runs): CPU of the event loop's thread,
        # CPU of every other thread (store threads, to_thread pool, aiosqlite threads), and
        # how busy the loop thread was (its CPU / wall time; 1.0 = saturated).
        "loop_cpu_us_per_op": statistics.median(r.loop_cpu_s / r.ops * 1e6 for r in runs),
        "other_cpu_us_per_op": statistics.median(
            max(0.0, r.process_cpu_s - r.loop_cpu_s) / r.ops * 1e6 for r in runs
        ),
        "loop_busy": statistics.median(r.loop_cpu_s / r.seconds for r in runs),
        "loop_runq_share": (
            statistics.median(r.loop_runq_s / r.seconds for r in runs)
            if all(r.loop_runq_s is not None for r in runs)
            else None
        ),
    }
    if runs and runs[0].stats:
        writes = sum(run.stats.get("writes", 0) for run in runs)
        batches = sum(run.stats.get("batches", 0) for run in runs)
        reads = sum(run.stats.get("reads", 0) for run in runs)
        out["store_stats"] = {
            "writes": writes,
            "reads": reads,
            "batches": batches,
            "mean_batch": writes / batches if batches else None,
            "largest_batch": max(run.stats.get("largest_batch", 0) for run in runs),
        }
    if runs and runs[0].bridge:
        pushed = sum(run.bridge.get("pushed", 0) for run in runs)
        wakeups = sum(run.bridge.get("wakeups", 0) for run in runs)
        out["bridge_stats"] = {
            "pushed": pushed,
            "wakeups": wakeups,
            "drains": sum(run.bridge.get("drains", 0) for run in runs),
            "per_wakeup": pushed / wakeups if wakeups else None,
        }
    return out


# ---------------------------------------------------------------- targets and report


def _rate(figures: dict[str, Any], impl: str, op: str, tasks: int, durability: str = "normal"):
    config = figures["configs"].get(f"{impl}|{op}|{tasks}|{durability}")
    return None if config is None else config["ops_per_s"]


def _checks(figures: dict[str, Any]) -> list[common.Check]:
    checks: list[common.Check] = []
    sync = figures["sync_save_ops_per_s"]

    def ratio(name: str, top: float | None, bottom: float | None, floor: float) -> None:
        value = None if top is None or bottom is None else top / bottom
        passed = None if value is None else value >= floor
        checks.append(common.Check(name, value, f">= {floor:g}", passed))

    for impl in (NATIVE_ASYNC, NATIVE_SA):
        save64 = _rate(figures, impl, "save", 64)
        ratio(f"{impl} 64-way save / native sync save", save64, sync["normal"]["median"], 2)
        asap = ASAP_ASYNC if impl == NATIVE_ASYNC else ASAP_SA
        asap64 = _rate(figures, asap, "save", 64)
        ratio(f"{impl} 64-way save / {asap} 64-way save", save64, asap64, 100)
        stdlib64 = _rate(figures, STDLIB, "save", 64)
        ratio(f"{impl} 64-way save / {STDLIB} 64-way save", save64, stdlib64, 4)
        get64 = _rate(figures, impl, "get", 64)
        stdlib_get64 = _rate(figures, STDLIB, "get", 64)
        ratio(f"{impl} 64-way get / {STDLIB} 64-way get", get64, stdlib_get64, 3)
    for impl in (NATIVE_ASYNC, NATIVE_SA):
        for op in OPS:
            for tasks in CONCURRENCY:
                config = figures["configs"].get(f"{impl}|{op}|{tasks}|normal")
                lag = None if config is None else config["lag_p99_us"]
                checks.append(
                    common.Check(
                        f"event-loop lag p99, {impl} {op} x{tasks}",
                        None if lag is None else lag / 1000,
                        "< 1",
                        None if lag is None else lag < 1000,
                        unit="ms",
                    )
                )
    ratio(
        f"durability=full: {NATIVE_ASYNC} 64-way save / native sync save",
        _rate(figures, NATIVE_ASYNC, "save", 64, "full"),
        sync["full"]["median"],
        10,
    )
    return checks


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _us(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 1000:
        return f"{value / 1000:.2f} ms"
    return f"{value:.0f} µs"


def _markdown(figures: dict[str, Any], checks: list[common.Check], quick: bool) -> str:
    lines = [
        "N asyncio tasks each await one call after another on a fresh database; 1 KB "
        "snapshot data. Throughput is the median over runs (all calls / wall time); "
        "latency is per awaited call; event-loop lag is how late a task sleeping 1 ms "
        "in a loop wakes up during the run. Latency and lag percentiles pool every run.",
        "",
        "| implementation | what |",
        "|---|---|",
    ]
    lines += [f"| {impl} | {DESCRIPTIONS[impl]} |" for impl in IMPLEMENTATIONS]
    lines += [
        "",
        "Reading the figures: asap-protocol opens a connection (and an aiosqlite thread) per "
        "call, and closing the last connection checkpoints the WAL with an fsync, so its "
        "speed, and the ratios against it, follow the disk's fsync latency; so does the "
        'sync save rate at durability "full". The loop-lag floor is the idle loop\'s (below). '
        "The machine is shared: see the load average and the *runnable, not running* column.",
        "",
    ]
    configs = figures["configs"]
    for op in OPS:
        lines += [
            f"### {op}" + (" (latest version)" if op == "get" else ""),
            "",
            "| implementation | tasks | ops/s | p50 | p99 | loop lag p99 | loop lag max "
            "| runs × calls |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for impl in IMPLEMENTATIONS:
            for tasks in CONCURRENCY:
                c = configs.get(f"{impl}|{op}|{tasks}|normal")
                if c is None:
                    continue
                lines.append(
                    f"| {impl} | {tasks} | {_num(c['ops_per_s'])} | {_us(c['p50_us'])} | "
                    f"{_us(c['p99_us'])} | {_us(c['lag_p99_us'])} | {_us(c['lag_max_us'])} | "
                    f"{c['runs']} × {c['ops_per_run']} |"
                )
        lines.append("")
    sync = figures["sync_save_ops_per_s"]
    full = configs.get(f"{NATIVE_ASYNC}|save|64|full")
    lines += [
        "### Group commit and durability",
        "",
        "| durability | native sync save (plain loop) ops/s "
        "| native async 64-way save ops/s | ratio |",
        "|---|---|---|---|",
    ]
    for durability in ("normal", "full"):
        rate = _rate(figures, NATIVE_ASYNC, "save", 64, durability)
        base = sync[durability]["median"]
        ratio = "n/a" if rate is None else f"{rate / base:.2f}x"
        lines.append(f"| {durability} | {_num(base)} | {_num(rate)} | {ratio} |")
    if full is not None:
        lines += [
            "",
            f"durability=full, 64-way: p50 {_us(full['p50_us'])}, p99 {_us(full['p99_us'])}, "
            f"loop lag p99 {_us(full['lag_p99_us'])}, max {_us(full['lag_max_us'])}.",
        ]
    idle = figures["idle_lag_us"]
    lines += [
        "",
        f"Idle loop (the lag monitor alone, {idle['samples']} samples): lag p99 "
        f"{_us(idle['p99'])}, max {_us(idle['max'])}; this is the floor of the lag columns.",
        "",
        "### Batching (asap_native, all timed runs pooled)",
        "",
        "| implementation | op | tasks | durability | SQLite writes per commit (mean) "
        "| largest batch | completions per loop wake-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in configs.values():
        if "store_stats" not in c:
            continue
        s, b = c["store_stats"], c.get("bridge_stats", {})
        mean = _num(s["mean_batch"], 1) if c["op"] == "save" else "—"
        largest = s["largest_batch"] if c["op"] == "save" else "—"
        lines.append(
            f"| {c['impl']} | {c['op']} | {c['tasks']} | {c['durability']} | {mean} | {largest} | "
            f"{_num(b.get('per_wakeup'), 1)} |"
        )
    lines += [
        "",
        "### Where the time goes (medians over runs, per call)",
        "",
        "CPU of the event loop's thread and of all other threads (the store's C++ threads, "
        "the `to_thread` pool, aiosqlite's threads) per call; *loop busy* is the loop thread's "
        "CPU / wall time (100% = the loop thread is the bottleneck); *loop runnable, not "
        "running* is the share of wall time the loop thread waited for a CPU (other "
        "processes on the machine).",
        "",
        "| implementation | op | tasks | durability | loop-thread CPU / call "
        "| other threads CPU / call | loop busy | loop runnable, not running |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in configs.values():
        runq = c.get("loop_runq_share")
        lines.append(
            f"| {c['impl']} | {c['op']} | {c['tasks']} | {c['durability']} | "
            f"{c['loop_cpu_us_per_op']:.1f} µs | {c['other_cpu_us_per_op']:.1f} µs | "
            f"{c['loop_busy']:.0%} | {'n/a' if runq is None else f'{runq:.0%}'} |"
        )
    for durability in ("normal", "full"):
        lines.append(
            f"| native sync save (plain loop) | save | 1 | {durability} | "
            f"{sync[durability]['cpu_us_per_op']:.1f} µs (all threads) | — | — | — |"
        )
    lines.append("")
    lines.append(f"Load average before / after the module: {figures.get('load', 'n/a')}.")
    lines.append("")
    for impl, why in figures["skipped"].items():
        lines.append(f"Not measured: {impl} ({why}).")
    lines += common.targets_table(checks)
    return "\n".join(lines)


def _measure(plan: dict[str, Any], tmp: Path, report: common.Progress) -> dict[str, Any]:
    return _Bench(plan, tmp, report).measure()


run = common.Benchmark("async", TITLE, PLANS, _measure, _checks, _markdown)


if __name__ == "__main__":
    common.main(run, __doc__)
