"""Metering at scale (issue 11): time windows, aggregates and retention on files of 100,000
and 1,000,000 usage events, side by side with asap-protocol's own SQLiteMeteringStore.

The file. One agent's N events, 30 s apart (120 an hour), every tenth stamped at +02:00,
plus N/5 events of five other agents over the same span, written with asap-protocol's own
DDL and row encoder (``tests_py/_usage_files.py``) in one transaction.

Windows. One-hour windows at random hours (about 120 events each), the same windows for
every implementation, each call timed on its own; in each round the implementations take
turns in a shuffled order and the figure is the median over all calls. Compared on the same
file and the same event loop: asap-protocol's ``await query`` (text comparison: not exact
across offsets), ``asap_native`` ``query_sync`` and ``await query``. Phase 1 runs on the
file as asap-protocol left it (asap_native's default: it reads asap's ``(agent_id,
timestamp)`` index with a 26-hour margin); phase 2 after ``SQLiteMeteringStore(...,
instant_index=True)`` added its instant index (as ``asap-native index`` does), whose build
time is reported. Every native answer is checked against the events
the window holds by construction (in instant order); asap's answers are counted.

Aggregates: ``aggregate`` over every event of the agent, interleaved, medians, totals
checked equal to asap-protocol's.

Retention: on a fresh copy of the indexed file, every usage event is deleted with
``prune_before`` while the same process records an event after another with ``await
record`` (each timed); the longest of those waits is the longest stall a writer saw. Done
twice: in-process (each chunk one of the store's queued writes) and from another process
(``python -m asap_native prune``, a transaction per chunk) while this one records.

The cost of the instant index for writers: ``await record`` throughput (64 tasks) on an
empty file with and without it.

Run through ``bench/run.py`` (``make bench``) or directly: ``python bench/bench_metering.py``
(``--quick``: a few thousand events, a smoke run; ``--sizes 100000``: those sizes only).
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import random
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: the repo root makes the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asap_native
from bench import common
from tests_py._usage_files import AGENT, SPACING, START, write_usage_file

TITLE = "Metering at scale: windows, aggregates, retention"
PLANS: dict[str, dict[str, Any]] = {
    "full": {
        "sizes": (100_000, 1_000_000),
        "windows": 40,
        "rounds": 5,
        "aggregate_rounds": {100_000: 7, 1_000_000: 3},
        "prune_sizes": (1_000_000,),
        "chunk_size": 1000,
        "record_events": 5000,
    },
    "quick": {
        "sizes": (3_000,),
        "windows": 4,
        "rounds": 2,
        "aggregate_rounds": {3_000: 2},
        "prune_sizes": (3_000,),
        "chunk_size": 200,
        "record_events": 300,
    },
}
ASAP = "asap-protocol await query"
NATIVE_SYNC = "asap_native query_sync"
NATIVE_AWAIT = "asap_native await query"
WINDOW_IMPLS = (ASAP, NATIVE_SYNC, NATIVE_AWAIT)
WINDOW_TARGET = 5.0
AGGREGATE_TARGET = 2.0


def _label(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 else f"{size // 1000}k"


def expected_tasks(start: datetime, end: datetime, size: int) -> list[str]:
    """The main agent's events in [start, end] by construction, in instant order."""
    first = max(0, math.ceil((start - START).total_seconds() / SPACING))
    last = min(size - 1, math.floor((end - START).total_seconds() / SPACING))
    return [f"task_{i}" for i in range(first, last + 1)]


def pick_windows(count: int, size: int, seed: int) -> list[tuple[datetime, datetime]]:
    hours = size * SPACING // 3600
    rng = random.Random(seed)
    windows = []
    for _ in range(count):
        start = START + timedelta(seconds=rng.randrange(0, max(1, (hours - 1) * 3600)))
        windows.append((start, start + timedelta(hours=1)))
    return windows


async def _timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await call()
    return time.perf_counter() - started, result


async def _compare_windows(
    path: Path, size: int, plan: dict[str, Any], seed: int, report: common.Progress
) -> dict[str, Any]:
    """One phase: the implementations on the same windows, interleaved; medians in ms."""
    from asap.state.stores.sqlite import SQLiteMeteringStore as AsapStore

    asap = AsapStore(path)
    native = asap_native.SQLiteMeteringStore(path, instant_index=False)
    windows = pick_windows(plan["windows"], size, seed)
    times: dict[str, list[float]] = {impl: [] for impl in WINDOW_IMPLS}
    exact = {NATIVE_SYNC: True, NATIVE_AWAIT: True}
    asap_missing = 0
    asap_wrong_order = 0
    rng = random.Random(seed + 1)

    async def native_sync(start: datetime, end: datetime) -> Any:
        return native.query_sync(AGENT, start, end)

    calls: dict[str, Callable[[datetime, datetime], Awaitable[Any]]] = {
        ASAP: lambda s, e: asap.query(AGENT, s, e),
        NATIVE_SYNC: native_sync,
        NATIVE_AWAIT: lambda s, e: native.query(AGENT, s, e),
    }
    for start, end in windows[:2]:  # warm-up: caches, prepared statements, models
        for impl in WINDOW_IMPLS:
            await calls[impl](start, end)
    total = plan["rounds"] * len(windows)
    done = 0
    for _ in range(plan["rounds"]):
        for start, end in windows:
            want = expected_tasks(start, end, size)
            order = list(WINDOW_IMPLS)
            rng.shuffle(order)
            for impl in order:
                seconds, events = await _timed(
                    lambda impl=impl, start=start, end=end: calls[impl](start, end)
                )
                times[impl].append(seconds)
                got = [event.task_id for event in events]
                if impl == ASAP:
                    asap_missing += len(set(want) - set(got))
                    asap_wrong_order += got != sorted(got, key=lambda t: int(t[5:]))
                elif got != want:
                    exact[impl] = False
            done += 1
            if done % 10 == 0:
                report(done / total, f"{_label(size)} windows {done}/{total}")
    native.close()
    calls_per_impl = len(windows) * plan["rounds"]
    return {
        "median_ms": {impl: statistics.median(t) * 1e3 for impl, t in times.items()},
        "exact": exact,
        "asap_missing_per_window": asap_missing / calls_per_impl,
        "asap_misordered_windows": asap_wrong_order,
        "calls": calls_per_impl,
        "events_per_window": statistics.mean(len(expected_tasks(s, e, size)) for s, e in windows),
    }


async def _compare_aggregates(path: Path, rounds: int) -> dict[str, Any]:
    from asap.state.stores.sqlite import SQLiteMeteringStore as AsapStore

    asap = AsapStore(path)
    native = asap_native.SQLiteMeteringStore(path)
    names = (
        "asap-protocol await aggregate",
        "asap_native aggregate_sync",
        "asap_native await aggregate",
    )

    async def native_sync() -> Any:
        return native.aggregate_sync(AGENT, "all")

    calls = {
        names[0]: lambda: asap.aggregate(AGENT, "all"),
        names[1]: native_sync,
        names[2]: lambda: native.aggregate(AGENT, "all"),
    }
    times: dict[str, list[float]] = {name: [] for name in names}
    totals: dict[str, Any] = {}
    for name in names:  # warm-up
        await calls[name]()
    rng = random.Random(5)
    for _ in range(rounds):
        order = list(names)
        rng.shuffle(order)
        for name in order:
            gc.collect()
            seconds, total = await _timed(calls[name])
            times[name].append(seconds)
            totals[name] = (
                total.total_tokens,
                total.total_duration,
                total.total_tasks,
                total.total_api_calls,
            )
    native.close()
    return {
        "median_ms": {name: statistics.median(t) * 1e3 for name, t in times.items()},
        "same_totals": len(set(totals.values())) == 1,
        "totals": totals[names[1]],
    }


async def _record_latencies(store: Any, stop: asyncio.Event, first_day: datetime) -> list[float]:
    """Awaited records one after another until `stop`; each one's latency in seconds."""
    from asap.state.metering import UsageEvent, UsageMetrics

    latencies = []
    index = 0
    while not stop.is_set():
        event = UsageEvent(
            task_id=f"live_{index}",
            agent_id="agent-live",
            consumer_id="c",
            metrics=UsageMetrics(tokens_in=1),
            timestamp=first_day + timedelta(seconds=index),
        )
        seconds, _ = await _timed(lambda event=event: store.record(event))
        latencies.append(seconds)
        index += 1
    return latencies


def _stall_figures(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "records": len(ordered),
        "max_ms": ordered[-1] * 1e3 if ordered else math.nan,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1e3 if ordered else math.nan,
        "p50_ms": statistics.median(ordered) * 1e3 if ordered else math.nan,
    }


async def _prune_with_writer(
    path: Path, size: int, chunk: int, out_of_process: bool
) -> dict[str, Any]:
    """Every usage event deleted while this process records; the writer's waits."""
    cutoff = START + timedelta(seconds=SPACING * size + 3600)
    live_day = cutoff + timedelta(days=1)
    store = asap_native.SQLiteMeteringStore(path)
    stop = asyncio.Event()
    baseline_stop = asyncio.Event()
    baseline_task = asyncio.create_task(_record_latencies(store, baseline_stop, live_day))
    await asyncio.sleep(1.0)
    baseline_stop.set()
    baseline = await baseline_task
    writer = asyncio.create_task(_record_latencies(store, stop, live_day + timedelta(days=1)))
    await asyncio.sleep(0.2)
    started = time.perf_counter()
    if out_of_process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "asap_native",
            "prune",
            str(path),
            "--usage-before",
            cutoff.isoformat(),
            "--chunk-size",
            str(chunk),
            "--json",
            stdout=asyncio.subprocess.PIPE,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"asap-native prune failed ({process.returncode})")
        import json

        deleted = json.loads(output)["usage_events_deleted"]
    else:
        deleted = await store.prune_before(cutoff, chunk_size=chunk)
    seconds = time.perf_counter() - started
    stop.set()
    latencies = await writer
    recorded = (await store.aggregate("agent-live", "all")).total_tasks
    store.close()
    return {
        "deleted": deleted,
        "seconds": seconds,
        "rows_per_s": deleted / seconds,
        "during": _stall_figures(latencies),
        "baseline": _stall_figures(baseline),
        "writes_lost": len(latencies) + len(baseline) - recorded,
    }


async def _record_cost(tmp: Path, events: int) -> dict[str, float]:
    """Awaited records from 64 tasks on an empty file, with and without the instant index."""
    from asap.state.metering import UsageEvent, UsageMetrics

    rates: dict[str, list[float]] = {"with instant index": [], "without": []}
    for round_ in range(3):
        for label in random.Random(round_).sample(sorted(rates), 2):
            path = tmp / f"record_{label.replace(' ', '_')}_{round_}.db"
            store = asap_native.SQLiteMeteringStore(path, instant_index=label != "without")
            queue = [
                UsageEvent(
                    task_id=f"t{i}",
                    agent_id=f"agent_{i % 10}",
                    consumer_id="c",
                    metrics=UsageMetrics(tokens_in=i),
                    timestamp=START + timedelta(seconds=i),
                )
                for i in range(events)
            ]

            async def worker(mine: list[Any], store: Any = store) -> None:
                for event in mine:
                    await store.record(event)

            started = time.perf_counter()
            await asyncio.gather(*(worker(queue[k::64]) for k in range(64)))
            rates[label].append(events / (time.perf_counter() - started))
            store.close()
    return {label: statistics.median(values) for label, values in rates.items()}


def _size_figures(
    tmp: Path, size: int, plan: dict[str, Any], report: common.Progress
) -> dict[str, Any]:
    path = tmp / f"usage_{size}.db"
    report(0.0, f"{_label(size)}: writing the file with asap-protocol's encoder")
    started = time.perf_counter()
    write_usage_file(path, size)
    build_seconds = time.perf_counter() - started
    figures: dict[str, Any] = {
        "events": size + size // 5,
        "file_mib": path.stat().st_size / 2**20,
        "write_seconds": build_seconds,
    }
    figures["text_plan"] = asyncio.run(_compare_windows(path, size, plan, 11, report))
    report(0.5, f"{_label(size)}: adding the instant index")
    started = time.perf_counter()
    asap_native.SQLiteMeteringStore(path, instant_index=True).close()
    figures["index_seconds"] = time.perf_counter() - started
    figures["file_mib_indexed"] = path.stat().st_size / 2**20
    figures["index_plan"] = asyncio.run(_compare_windows(path, size, plan, 11, report))
    report(0.7, f"{_label(size)}: aggregates")
    figures["aggregate"] = asyncio.run(
        _compare_aggregates(path, plan["aggregate_rounds"].get(size, 3))
    )
    if size in plan["prune_sizes"]:
        for where, out_of_process in (("in-process", False), ("another process", True)):
            report(0.8, f"{_label(size)}: prune_before ({where}) while recording")
            copy = tmp / f"prune_{size}.db"
            shutil.copy(path, copy)
            figures[f"prune {where}"] = asyncio.run(
                _prune_with_writer(copy, size, plan["chunk_size"], out_of_process)
            )
            os.remove(copy)
    os.remove(path)
    return figures


# ---------------------------------------------------------------- checks and report


def _checks(figures: dict[str, Any]) -> list[common.Check]:
    checks: list[common.Check] = []
    for key, per_size in figures["sizes"].items():
        index_plan = per_size["index_plan"]
        medians = index_plan["median_ms"]
        for impl in (NATIVE_SYNC, NATIVE_AWAIT):
            value = medians[ASAP] / medians[impl]
            exact = index_plan["exact"][impl]
            checks.append(
                common.Check(
                    f"window 1 h, {key} events: {ASAP} / {impl}",
                    value,
                    f">= {WINDOW_TARGET:g}",
                    value >= WINDOW_TARGET and exact,
                )
            )
        text = per_size["text_plan"]["median_ms"]
        checks.append(
            common.Check(
                f"window 1 h, {key} events, asap's index only: {ASAP} / {NATIVE_SYNC}",
                text[ASAP] / text[NATIVE_SYNC],
                "(info)",
                None,
            )
        )
        aggregate = per_size["aggregate"]["median_ms"]
        asap_time = aggregate["asap-protocol await aggregate"]
        for name in ("asap_native aggregate_sync", "asap_native await aggregate"):
            value = asap_time / aggregate[name]
            checks.append(
                common.Check(
                    f"aggregate, {key} events: asap-protocol await aggregate / {name}",
                    value,
                    f">= {AGGREGATE_TARGET:g}",
                    value >= AGGREGATE_TARGET and per_size["aggregate"]["same_totals"],
                )
            )
        for where in ("in-process", "another process"):
            prune = per_size.get(f"prune {where}")
            if prune is not None:
                checks.append(
                    common.Check(
                        f"longest record wait while pruning {prune['deleted']:,} events ({where})",
                        prune["during"]["max_ms"],
                        "(info)",
                        None,
                        unit="ms",
                    )
                )
    return checks


def _ms(value: float) -> str:
    return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"


def _markdown(figures: dict[str, Any], checks: list[common.Check], quick: bool) -> str:
    lines = [
        "One agent's events 30 s apart (a tenth at +02:00) plus a fifth as many of five other "
        "agents, written by asap-protocol's own row encoder; one-hour windows (about 120 "
        "events) at random hours, the same for every implementation, interleaved in shuffled "
        "order, medians of every call. *Phase 1*: the file as asap-protocol left it, "
        "asap_native's default (it reads asap's `(agent_id, timestamp)` index with a 26-hour "
        "margin). *Phase 2*: after `SQLiteMeteringStore(..., instant_index=True)` (or "
        "`asap-native index DB`) added the instant index. "
        "asap-protocol compares text, so its answers miss events stamped at another offset.",
        "",
    ]
    for key, per_size in figures["sizes"].items():
        lines += [
            f"### {key} events of one agent ({per_size['events']:,} rows, "
            f"{per_size['file_mib']:.0f} MiB; written in {per_size['write_seconds']:.1f} s; "
            f"instant index built in {per_size['index_seconds']:.2f} s, file then "
            f"{per_size['file_mib_indexed']:.0f} MiB)",
            "",
            "| window query | phase 1: asap's index only | phase 2: with the instant index "
            "| exact |",
            "|---|---|---|---|",
        ]
        text, indexed = per_size["text_plan"], per_size["index_plan"]
        for impl in WINDOW_IMPLS:
            if impl == ASAP:
                exact = (
                    f"no: {indexed['asap_missing_per_window']:.1f} of "
                    f"{indexed['events_per_window']:.0f} events missing per window"
                )
            else:
                exact = "yes" if text["exact"][impl] and indexed["exact"][impl] else "**NO**"
            lines.append(
                f"| {impl} | {_ms(text['median_ms'][impl])} | {_ms(indexed['median_ms'][impl])} "
                f"| {exact} |"
            )
        lines += [
            "",
            f"Ratios (asap-protocol / asap_native): phase 1 "
            f"{text['median_ms'][ASAP] / text['median_ms'][NATIVE_SYNC]:.1f}x sync, "
            f"{text['median_ms'][ASAP] / text['median_ms'][NATIVE_AWAIT]:.1f}x awaited; "
            f"phase 2 {indexed['median_ms'][ASAP] / indexed['median_ms'][NATIVE_SYNC]:.1f}x "
            f"sync, {indexed['median_ms'][ASAP] / indexed['median_ms'][NATIVE_AWAIT]:.1f}x "
            f"awaited ({indexed['calls']} calls each).",
            "",
            "| aggregate (every event of the agent) | median | totals |",
            "|---|---|---|",
        ]
        aggregate = per_size["aggregate"]
        for name, value in aggregate["median_ms"].items():
            same = "equal" if aggregate["same_totals"] else "**DIFFER**"
            lines.append(f"| {name} | {_ms(value)} | {same} |")
        lines.append("")
        for where in ("in-process", "another process"):
            prune = per_size.get(f"prune {where}")
            if prune is None:
                continue
            how = (
                "`await store.prune_before(...)`, each chunk a queued write"
                if where == "in-process"
                else "`python -m asap_native prune --usage-before ...`, a transaction per chunk"
            )
            lines += [
                f"Retention ({where}: {how}): {prune['deleted']:,} events deleted in "
                f"{prune['seconds']:.1f} s ({prune['rows_per_s']:,.0f} rows/s, chunks of "
                f"{figures['plan']['chunk_size']}) while this process recorded one event after "
                f"another: {prune['during']['records']:,} records, wait p50 "
                f"{_ms(prune['during']['p50_ms'])}, p99 {_ms(prune['during']['p99_ms'])}, "
                f"**longest {_ms(prune['during']['max_ms'])}** (before the prune: p50 "
                f"{_ms(prune['baseline']['p50_ms'])}, longest "
                f"{_ms(prune['baseline']['max_ms'])}); records lost: {prune['writes_lost']}.",
                "",
            ]
    cost = figures.get("record_cost")
    if cost:
        with_index, without = cost["with instant index"], cost["without"]
        lines += [
            "### What the instant index costs writers",
            "",
            f"`await record` from 64 tasks on an empty file: {with_index:,.0f} events/s with "
            f"the instant index, {without:,.0f} without ({with_index / without:.2f}x).",
            "",
        ]
    lines += [
        *common.targets_table(checks),
        f"Load average before / after: {figures['load']}. SQLite {asap_native.sqlite_version} "
        "for asap_native; asap-protocol's through Python's sqlite3.",
    ]
    return "\n".join(lines)


def measure(plan: dict[str, Any], tmp: Path, report: common.Progress) -> dict[str, Any]:
    figures: dict[str, Any] = {"plan": plan, "sizes": {}}
    sizes = plan["sizes"]
    for number, size in enumerate(sizes):

        def scaled(fraction: float, message: str = "", number: int = number) -> None:
            report((number + fraction) / len(sizes), message)

        figures["sizes"][_label(size)] = _size_figures(tmp, size, plan, scaled)
    report(0.99, "record throughput with and without the instant index")
    figures["record_cost"] = asyncio.run(_record_cost(tmp, plan["record_events"]))
    return figures


run = common.Benchmark("metering", TITLE, PLANS, measure, _checks, _markdown)


if __name__ == "__main__":
    parser = common.script_parser(__doc__)
    parser.add_argument(
        "--sizes", help="comma-separated event counts (default 100000,1000000)", default=None
    )
    args = parser.parse_args()
    overrides: dict[str, Any] = {}
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
        overrides = {"sizes": sizes, "prune_sizes": sizes[-1:]}
    out = run(progress=common.print_progress, quick=args.quick, plan=overrides)
    common.print_result(out, args.json)
