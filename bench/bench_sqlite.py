"""SQLite builds (issue 13): the bundled, tuned SQLite against the system's, and each option.

Every build is the same asap_native (same C++ core, bindings and compiler flags, system zlib
and brotli) linked against a different SQLite:

- ``system``: the machine's libsqlite3 (Debian 12: 3.40.1, built by Debian with its options);
- ``bundled``: third_party/sqlite (3.50.4) with the compile options in third_party/CMakeLists.txt;
- ``bundled, stock``: the same amalgamation with none of those tuning options (only the
  platform ``HAVE_*`` ones), i.e. what the version alone changes;
- ``bundled without X`` (full run only): the bundled build with one option (or group) left out
  (``-DASAP_NATIVE_SQLITE_DROP_OPTIONS=X``), i.e. what X alone is worth.

Builds: CMake, straight into build/sqlite-bench/ (``_core`` only; one tree for the system
build, one for the bundled ones, where a variant only recompiles sqlite3.c), each staged with
a copy of python/asap_native as build/sqlite-bench/stage/<name>/asap_native. Built once, reused
until a source is newer (``--rebuild`` forces it).

Method: a trial is a fresh ``python bench/bench_sqlite.py --child`` process with
PYTHONPATH=<stage>, on a fresh database file. It times, each call on its own: ``save`` of 1 KB
snapshots (new versions), ``get`` (latest) of a task with 10 versions, ``save`` at
durability="full" (an fsync per commit), an awaited 64-way save on SQLiteAsyncSnapshotStore
(throughput), and ``aggregate`` of 1000 usage events (json_extract). Rounds run every build
once in a shuffled order, so machine noise falls on all alike; a figure is the median over
rounds of each trial's median (or throughput). Ratios are "how many times faster".

Run through ``bench/run.py --only sqlite`` or directly: ``python bench/bench_sqlite.py``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: the repo root makes the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
BUILD = ROOT / "build" / "sqlite-bench"
TITLE = "SQLite builds: bundled (tuned) vs system, and each compile option"

SYSTEM, BUNDLED, STOCK = "system", "bundled", "bundled, stock"
BUNDLED_O2 = "bundled, sqlite3.c at -O2"
# The tuning options of third_party/CMakeLists.txt, as (label, names left out).
OMIT_GROUP = (
    "SQLITE_OMIT_DEPRECATED;SQLITE_OMIT_SHARED_CACHE;SQLITE_OMIT_PROGRESS_CALLBACK;"
    "SQLITE_OMIT_DECLTYPE;SQLITE_OMIT_LOAD_EXTENSION;SQLITE_LIKE_DOESNT_MATCH_BLOBS;"
    "SQLITE_MAX_EXPR_DEPTH"
)
ABLATIONS = (
    ("SQLITE_THREADSAFE=2", "SQLITE_THREADSAFE"),
    ("SQLITE_DEFAULT_MEMSTATUS=0", "SQLITE_DEFAULT_MEMSTATUS"),
    ("SQLITE_DEFAULT_WAL_SYNCHRONOUS=1", "SQLITE_DEFAULT_WAL_SYNCHRONOUS"),
    ("SQLITE_DQS=0", "SQLITE_DQS"),
    ("SQLITE_USE_ALLOCA", "SQLITE_USE_ALLOCA"),
    ("the OMIT_* and limit options", OMIT_GROUP),
    ("HAVE_FDATASYNC=1", "HAVE_FDATASYNC"),
)
STOCK_DROP = ";".join(
    [
        "SQLITE_THREADSAFE",
        "SQLITE_DEFAULT_MEMSTATUS",
        "SQLITE_DEFAULT_WAL_SYNCHRONOUS",
        "SQLITE_DQS",
        "SQLITE_USE_ALLOCA",
        OMIT_GROUP,
    ]
)


# name -> (CMake tree, extra CMake definitions)
def builds(quick: bool) -> dict[str, tuple[str, dict[str, str]]]:
    chosen = {
        SYSTEM: ("system", {"ASAP_NATIVE_BUNDLED_SQLITE": "OFF"}),
        BUNDLED: (
            "bundled",
            {
                "ASAP_NATIVE_BUNDLED_SQLITE": "ON",
                "ASAP_NATIVE_SQLITE_DROP_OPTIONS": "",
                "ASAP_NATIVE_SQLITE_OPTIMIZE": "",
            },
        ),
        STOCK: (
            "bundled",
            {
                "ASAP_NATIVE_BUNDLED_SQLITE": "ON",
                "ASAP_NATIVE_SQLITE_DROP_OPTIONS": STOCK_DROP,
                "ASAP_NATIVE_SQLITE_OPTIMIZE": "",
            },
        ),
    }
    if not quick:
        # The build type's -O3 against -O2, the level SQLite's own build uses.
        chosen[BUNDLED_O2] = (
            "bundled",
            {
                "ASAP_NATIVE_BUNDLED_SQLITE": "ON",
                "ASAP_NATIVE_SQLITE_DROP_OPTIONS": "",
                "ASAP_NATIVE_SQLITE_OPTIMIZE": "-O2",
            },
        )
        for label, dropped in ABLATIONS:
            chosen[f"bundled without {label}"] = (
                "bundled",
                {
                    "ASAP_NATIVE_BUNDLED_SQLITE": "ON",
                    "ASAP_NATIVE_SQLITE_DROP_OPTIONS": dropped,
                    "ASAP_NATIVE_SQLITE_OPTIMIZE": "",
                },
            )
    return chosen


# (op, unit, better) in report order; "s/op" figures are per-call medians.
OPS = (
    ("save 1 KB", "us", "lower"),
    ("get 1 KB", "us", "lower"),
    ("save 1 KB, durability=full", "us", "lower"),
    ("64-way awaited save", "ops/s", "higher"),
    ("aggregate 1000 events", "us", "lower"),
)
PLANS = {
    # calls per op in one trial, and rounds
    "full": {
        "save": 1000,
        "get": 2000,
        "save_full": 60,
        "async_per_task": 15,
        "aggregate": 100,
        "rounds": 7,
    },
    "quick": {
        "save": 30,
        "get": 30,
        "save_full": 3,
        "async_per_task": 2,
        "aggregate": 3,
        "rounds": 2,
    },
}

# ---------------------------------------------------------------- the child: one trial


def _timed(calls: int, call: Callable[[int], Any]) -> float:
    """Median seconds of ``call(i)`` for i in range(calls), each call timed on its own."""
    samples = []
    gc.disable()
    try:
        for i in range(calls):
            started = time.perf_counter()
            call(i)
            samples.append(time.perf_counter() - started)
    finally:
        gc.enable()
    return statistics.median(samples)


def trial(folder: str, plan: dict[str, int]) -> dict[str, Any]:
    """One trial in this process, on the asap_native it imports; returns figures per op."""
    sys.path.insert(0, str(BENCH_DIR))
    from bench_stores import make_state

    import asap_native
    from asap_native.models import StateSnapshot, UsageEvent, UsageMetrics

    data = make_state(1024)

    def snapshot(task: str, version: int) -> Any:
        return StateSnapshot(
            id=f"{task}-{version}",
            task_id=task,
            version=version,
            data=data,
            created_at=common.CREATED_AT,
        )

    figures: dict[str, Any] = {"sqlite_version": asap_native.sqlite_version}
    path = os.path.join(folder, "bench.db")
    with asap_native.SQLiteSnapshotStore(path) as store:
        for version in range(1, 11):
            store.save(snapshot("reader", version))
        saves = [snapshot("writer", v) for v in range(1, plan["save"] + 1)]
        figures["save 1 KB"] = _timed(plan["save"], lambda i: store.save(saves[i])) * 1e6
        figures["get 1 KB"] = _timed(plan["get"], lambda i: store.get("reader")) * 1e6
    with asap_native.SQLiteSnapshotStore(path, durability="full") as store:
        saves = [snapshot("full", v) for v in range(1, plan["save_full"] + 1)]
        figures["save 1 KB, durability=full"] = (
            _timed(plan["save_full"], lambda i: store.save(saves[i])) * 1e6
        )

    per_task = plan["async_per_task"]

    async def async_saves() -> float:
        async with asap_native.SQLiteAsyncSnapshotStore(path) as store:
            await store.save(snapshot("warm", 1))

            async def worker(task: str) -> None:
                for version in range(1, per_task + 1):
                    await store.save(snapshot(task, version))

            started = time.perf_counter()
            await asyncio.gather(*(worker(f"async-{i}") for i in range(64)))
            return 64 * per_task / (time.perf_counter() - started)

    figures["64-way awaited save"] = asyncio.run(async_saves())

    async def aggregates() -> float:
        async with asap_native.SQLiteMeteringStore(path) as metering:
            for i in range(1000):
                metering.record_sync(
                    UsageEvent(
                        task_id=f"t{i}",
                        agent_id="agent",
                        consumer_id="user",
                        metrics=UsageMetrics(tokens_in=i, tokens_out=1, duration_ms=3, api_calls=1),
                        timestamp=common.CREATED_AT + timedelta(seconds=i),
                    )
                )
            return _timed(plan["aggregate"], lambda i: metering.aggregate_sync("agent", "day"))

    figures["aggregate 1000 events"] = asyncio.run(aggregates()) * 1e6
    return figures


# ---------------------------------------------------------------- building the variants


def _python() -> str:
    return sys.executable


def _newest_source() -> float:
    newest = 0.0
    for folder in ("cpp", "python", "third_party"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".c", ".h", ".cpp", ".hpp", ".py", ".txt"}:
                newest = max(newest, path.stat().st_mtime)
    return max(newest, (ROOT / "CMakeLists.txt").stat().st_mtime)


def _stage(name: str) -> Path:
    return BUILD / "stage" / name.replace(" ", "_").replace(",", "").replace("=", "-")


def build(name: str, tree: str, defines: dict[str, str], rebuild: bool) -> Path:
    """Builds (or reuses) the extension for one variant; returns the folder for PYTHONPATH."""
    stage = _stage(name)
    marker = stage / "built"
    if (
        not rebuild
        and marker.is_file()
        and marker.stat().st_mtime >= _newest_source()
        and marker.read_text() == json.dumps(defines)
    ):
        return stage
    pybind11_dir = subprocess.run(
        [_python(), "-m", "pybind11", "--cmakedir"], check=True, capture_output=True, text=True
    ).stdout.strip()
    binary = BUILD / tree
    configure = [
        "cmake",
        "-S",
        str(ROOT),
        "-B",
        str(binary),
        "-G",
        "Ninja",
        "-DCMAKE_BUILD_TYPE=Release",
        "-DASAP_NATIVE_BUILD_PYTHON=ON",
        f"-DPython_EXECUTABLE={_python()}",
        f"-Dpybind11_DIR={pybind11_dir}",
    ] + [f"-D{key}={value}" for key, value in defines.items()]
    jobs = os.environ.get("JOBS", "2")
    for command in (
        configure,
        ["nice", "cmake", "--build", str(binary), "--target", "_core", "-j", jobs],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    extension = next(binary.glob("_core.*.so"))
    if stage.exists():
        shutil.rmtree(stage)
    shutil.copytree(
        ROOT / "python" / "asap_native",
        stage / "asap_native",
        ignore=shutil.ignore_patterns("__pycache__", "*.so"),
    )
    shutil.copy2(extension, stage / "asap_native" / extension.name)
    marker.write_text(json.dumps(defines))
    return stage


# ---------------------------------------------------------------- the parent: rounds


def _run_trial(stage: Path, plan: dict[str, int], parent: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="asap-bench-sqlite-", dir=parent) as folder:
        env = dict(os.environ, PYTHONPATH=str(stage))
        done = subprocess.run(
            [_python(), str(Path(__file__).resolve()), "--child", folder, json.dumps(plan)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"trial with {stage} failed:\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def measure(quick: bool, rebuild: bool, report: common.Progress) -> dict[str, Any]:
    plan = dict(PLANS["quick" if quick else "full"])
    chosen = builds(quick)
    stages = {}
    for index, (name, (tree, defines)) in enumerate(chosen.items()):
        report(index / (len(chosen) * 3), f"build {name} (cmake, {tree} tree; kept if current)")
        stages[name] = build(name, tree, defines, rebuild)
    load_before = common.load_average()
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    rng = random.Random(13)
    parent = common.temp_parent()
    total = plan["rounds"] * len(chosen)
    done = 0
    for round_index in range(plan["rounds"]):
        order = list(chosen)
        rng.shuffle(order)
        for name in order:
            report(1 / 3 + (2 / 3) * done / total, f"round {round_index + 1}: {name}")
            samples[name].append(_run_trial(stages[name], plan, parent))
            done += 1
    figures: dict[str, Any] = {
        "plan": plan,
        "builds": {},
        "load": f"{load_before} / {common.load_average()}",
    }
    for name, trials in samples.items():
        figures["builds"][name] = {
            "sqlite_version": trials[0]["sqlite_version"],
            "defines": chosen[name][1],
            **{op: statistics.median(t[op] for t in trials) for op, _, _ in OPS},
            "trials": trials,
        }
    return figures


def _ratio(a: float, b: float, op: str) -> float:
    better = next(kind for name, _, kind in OPS if name == op)
    return a / b if better == "higher" else b / a


def _speedup(figures: dict[str, Any], faster: str, slower: str, op: str) -> float:
    """How many times faster ``faster`` is than ``slower`` on ``op`` (> 1: faster): the median
    of the per-round ratios (both builds ran in the same round, so load drifts cancel)."""
    first, second = figures["builds"][faster], figures["builds"][slower]
    pairs = list(zip(first.get("trials", []), second.get("trials", []), strict=True))
    if not pairs:
        return _ratio(first[op], second[op], op)
    return statistics.median(_ratio(a[op], b[op], op) for a, b in pairs)


def _spread(figures: dict[str, Any], faster: str, slower: str, op: str) -> str:
    """The lowest and highest per-round ratio, to show how noisy the machine was."""
    pairs = zip(
        figures["builds"][faster].get("trials", []),
        figures["builds"][slower].get("trials", []),
        strict=True,
    )
    ratios = [_ratio(a[op], b[op], op) for a, b in pairs]
    return f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "n/a"


def _markdown(figures: dict[str, Any], quick: bool) -> str:
    names = list(figures["builds"])
    lines = [
        "Same asap_native, different SQLite (see `bench/bench_sqlite.py`): medians over "
        f"{figures['plan']['rounds']} rounds of fresh processes, builds interleaved.",
        "",
        f"Load average (1, 5, 15 min) before / after: {figures.get('load', 'n/a')} on "
        f"{os.cpu_count()} CPUs. Per-round ratios vary by the range shown: a median ratio "
        "inside that range's noise says the builds are not told apart on this machine.",
        "",
        "| op | "
        + " | ".join(
            f"{n} ({figures['builds'][n]['sqlite_version']})" for n in (SYSTEM, BUNDLED, STOCK)
        )
        + " | bundled vs system | per-round range |",
        "|---|" + "---:|" * 5,
    ]
    for op, unit, _ in OPS:
        cells = []
        for name in (SYSTEM, BUNDLED, STOCK):
            value = figures["builds"][name][op]
            cells.append(f"{value:,.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}")
        ratio = _speedup(figures, BUNDLED, SYSTEM, op)
        spread = _spread(figures, BUNDLED, SYSTEM, op)
        lines.append(f"| {op} | " + " | ".join(cells) + f" | {ratio:.2f}x | {spread} |")
    lines += ["", "Ratios are how many times faster the first build is (above 1: faster)."]
    ablations = [n for n in names if n.startswith("bundled without ")]
    if ablations:
        lines += [
            "",
            "### Each compile option: bundled vs bundled without it",
            "",
            "Median per-round ratio; above 1.00: the option makes that op faster. Compare "
            "with the per-round range above: a ratio inside it is noise, not an effect.",
            "",
            "| option | " + " | ".join(op for op, _, _ in OPS) + " |",
            "|---|" + "---:|" * len(OPS),
        ]
        for name in ablations:
            label = name.removeprefix("bundled without ")
            cells = [f"{_speedup(figures, BUNDLED, name, op):.2f}" for op, _, _ in OPS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        cells = [f"{_speedup(figures, BUNDLED, STOCK, op):.2f}" for op, _, _ in OPS]
        lines.append("| all of them (vs stock) | " + " | ".join(cells) + " |")
        if BUNDLED_O2 in figures["builds"]:
            cells = [f"{_speedup(figures, BUNDLED, BUNDLED_O2, op):.2f}" for op, _, _ in OPS]
            lines.append(
                "| -O3 (the build type's) vs -O2 for sqlite3.c | " + " | ".join(cells) + " |"
            )
    if quick:
        lines += ["", "_Quick run: a few calls per op; the figures are not meaningful._"]
    return "\n".join(lines)


def _checks(figures: dict[str, Any]) -> list[common.Check]:
    checks = []
    for op in ("save 1 KB", "get 1 KB", "64-way awaited save"):
        value = _speedup(figures, BUNDLED, SYSTEM, op)
        # The bundled build must be no slower than the system's (within noise).
        name = f"bundled vs system SQLite: {op}"
        checks.append(common.Check(name, value, ">= 0.95", value >= 0.95))
    return checks


def run(
    progress: common.Progress | None = None, quick: bool = False, rebuild: bool = False
) -> dict[str, Any]:
    """Builds the variants (once), runs the rounds; returns the section for bench/run.py."""
    started = time.perf_counter()
    figures = measure(quick, rebuild, progress or common.no_progress)
    checks = _checks(figures)
    return common.section("sqlite", TITLE, _markdown(figures, quick), checks, figures, started)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(trial(sys.argv[2], json.loads(sys.argv[3]))))
        sys.exit(0)
    parser = common.script_parser(__doc__)
    parser.add_argument("--rebuild", action="store_true", help="rebuild every variant")
    args = parser.parse_args()
    out = run(progress=common.print_progress, quick=args.quick, rebuild=args.rebuild)
    common.print_result(out, args.json)
