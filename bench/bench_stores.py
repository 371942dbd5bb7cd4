"""Snapshot store benchmark (issue 2): sync save, get (latest), list_versions and delete.

Four implementations run side by side in one process run, on the same data, each on its own
temporary database file:

- ``asap_native``: this package's ``SQLiteSnapshotStore``;
- ``C++ raw``: the core's ``SqliteSnapshotStore`` driven from C++ (bench/bench_store_cpp.cpp)
  with the data already JSON text, i.e. the floor the binding can reach;
- ``stdlib``: bench/stdlib_store.py, what a user would write with ``sqlite3`` and ``json``;
- ``asap-protocol``: ``asap.state.stores.sqlite.SQLiteSnapshotStore``.

Method: every implementation gets the same setup (task "reader" with versions 1..10 and
background tasks with two versions each, all holding the data), then rounds. A round on a
fresh task times each call on its own: ``save`` of versions 1..n, ``get`` (latest) of
"reader" n times, ``list_versions("reader")`` n times, and ``delete`` of the n versions the
save phase wrote (so deletes always remove a row, set up outside the timed calls). Rounds
alternate between implementations in a shuffled order, so machine noise falls on all alike.
The garbage collector is paused during a round, as ``timeit`` does, and each result is freed
just before the next call, outside its timing. Figures are medians of
all per-call samples; asap-protocol's store is ~1000x slower, so it gets fewer calls.

Run through ``bench/run.py`` (``make bench``) or directly: ``python bench/bench_stores.py``.
"""

from __future__ import annotations

import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: the repo root makes the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asap_native
from asap_native import _core
from bench import common
from bench.stdlib_store import StdlibSnapshotStore

TITLE = "Snapshot stores (sync API)"
OPS = ("save", "get", "list_versions", "delete")
SIZES = (("1 KB", 1024), ("100 KB", 100 * 1024))
READER_TASK = "reader"
READER_VERSIONS = 10
BACKGROUND_TASKS = 20

NATIVE, CPP, STDLIB, ASAP = "asap_native", "C++ raw", "stdlib", "asap-protocol"
IMPLEMENTATIONS = (NATIVE, CPP, STDLIB, ASAP)

# (rounds, calls per round for the fast stores, calls per round for asap-protocol) per size.
# Sized for stable medians with the whole module well under two minutes on a 2-core VM.
PLANS = {
    "full": {"1 KB": (120, 100, 3), "100 KB": (80, 30, 2)},
    "quick": {"1 KB": (3, 5, 1), "100 KB": (3, 3, 1)},
}


# ---------------------------------------------------------------- data


_WORDS = [
    "agent",
    "search",
    "result",
    "source",
    "token",
    "plan",
    "step",
    "tool",
    "call",
    "summary",
    "answer",
    "question",
    "context",
    "retrieve",
    "rank",
    "score",
    "cache",
    "budget",
    "latency",
    "draft",
    "review",
    "cite",
    "verify",
    "merge",
    "update",
    "status",
    "café",
    "naïve",
    "東京",
    "данные",
]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def make_state(target_bytes: int, seed: int = 2) -> dict[str, Any]:
    """A nested agent task state whose compact JSON is about ``target_bytes`` long."""
    rng = random.Random(seed)
    state: dict[str, Any] = {
        "task": {"id": "task_01HX5K4N8Q", "skill": "research", "status": "working", "attempt": 2},
        "context": {
            "user": {"id": "usr_8812", "locale": "en-GB", "tier": "pro"},
            "flags": {"stream": True, "cache": False, "trace": None},
        },
        "plan": [],
        "messages": [],
        "sources": [],
        "metrics": {"tokens_in": 18231, "tokens_out": 2210, "cost_usd": 0.0421, "latency_ms": []},
    }

    def size() -> int:
        return len(json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode())

    step = 0
    total = size()
    while True:
        step += 1
        kind = step % 4
        if kind == 0:
            item: Any = {
                "step": step,
                "action": rng.choice(["search", "read", "summarize", "ask"]),
                "done": rng.random() < 0.5,
            }
            target = state["plan"]
        elif kind == 1:
            item = {
                "role": rng.choice(["user", "assistant", "tool"]),
                "content": _text(rng, rng.randint(8, 40)),
                "tool_calls": [
                    {"name": "web_search", "args": {"q": _text(rng, 3), "k": rng.randint(1, 9)}}
                ]
                if rng.random() < 0.3
                else [],
            }
            target = state["messages"]
        elif kind == 2:
            item = {
                "url": f"https://example.org/doc/{rng.randint(1000, 99999)}",
                "title": _text(rng, 5),
                "score": round(rng.random(), 4),
                "tags": [rng.choice(_WORDS) for _ in range(3)],
                "cited": rng.random() < 0.4,
            }
            target = state["sources"]
        else:
            item = rng.randint(5, 900)
            target = state["metrics"]["latency_ms"]
        # Appending grows the text by the item plus a comma; exact size is rechecked below.
        grown = total + len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())
        if grown + 1 > target_bytes - 16:
            break
        target.append(item)
        total = size() if len(target) == 1 else grown + 1
    state["notes"] = ""
    state["notes"] = "x" * max(0, target_bytes - size())
    return state


# ---------------------------------------------------------------- implementations


def _asap_store_class() -> Any:
    try:
        from asap.state.stores.sqlite import SQLiteSnapshotStore
    except Exception:
        return None
    return SQLiteSnapshotStore


@dataclass
class _Runner:
    """One implementation under test, with its samples (ns) per op."""

    name: str
    per_round: int
    samples: dict[str, list[int]] = field(default_factory=lambda: {op: [] for op in OPS})

    def round(self, task: str, snapshots: list[Any], record: bool) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _PythonRunner(_Runner):
    def __init__(self, name: str, per_round: int, store: Any, data: dict, model: Any) -> None:
        super().__init__(name, per_round)
        self.store = store
        self.data = data
        for snapshot in common.make_snapshots(model, READER_TASK, READER_VERSIONS, data):
            store.save(snapshot)
        for t in range(BACKGROUND_TASKS):
            for snapshot in common.make_snapshots(model, f"background-{t}", 2, data):
                store.save(snapshot)

    def round(self, task: str, snapshots: list[Any], record: bool) -> None:
        n = self.per_round
        clock = time.perf_counter_ns
        store = self.store
        save, get, list_versions, delete = (
            store.save,
            store.get,
            store.list_versions,
            store.delete,
        )
        saves: list[int] = []
        gets: list[int] = []
        lists: list[int] = []
        deletes: list[int] = []
        # Each result is freed just before the next call, outside its timing: freeing a 100 KB
        # dict tree takes a few hundred µs, and keeping all results alive instead would make
        # every call fault in fresh memory, which a server reusing its memory does not pay.
        latest: Any = None
        versions: Any = None
        deleted = 0
        gc.collect()
        gc.disable()
        try:
            for snapshot in snapshots[:n]:
                start = clock()
                save(snapshot)
                saves.append(clock() - start)
            for _ in range(n):
                latest = None
                start = clock()
                latest = get(READER_TASK)
                gets.append(clock() - start)
            for _ in range(n):
                versions = None
                start = clock()
                versions = list_versions(READER_TASK)
                lists.append(clock() - start)
            for v in range(1, n + 1):
                start = clock()
                gone = delete(task, v)
                deletes.append(clock() - start)
                deleted += gone is True
        finally:
            gc.enable()
        # Checked after the timed calls: every implementation must do the same work.
        if latest is None or latest.version != READER_VERSIONS or latest.data != self.data:
            raise AssertionError(f"{self.name}: get returned a wrong snapshot")
        if versions != list(range(1, READER_VERSIONS + 1)):
            raise AssertionError(f"{self.name}: list_versions returned {versions}")
        if deleted != n:
            raise AssertionError(f"{self.name}: deleted {deleted} of {n} rows")
        if record:
            for op, values in zip(OPS, (saves, gets, lists, deletes), strict=False):
                self.samples[op].extend(values)

    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()


class _CppRunner(_Runner):
    """Drives bench_store_cpp in --serve mode: one stdin line per round."""

    def __init__(self, per_round: int, binary: str, data_file: Path, db: Path) -> None:
        super().__init__(CPP, per_round)
        self.process = subprocess.Popen(
            [
                binary,
                "--serve",
                "--data",
                str(data_file),
                "--db",
                str(db),
                "--reader-versions",
                str(READER_VERSIONS),
                "--background-tasks",
                str(BACKGROUND_TASKS),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self._reply().get("ready") is not True:
            raise RuntimeError("bench_store_cpp did not start")

    def _reply(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"bench_store_cpp exited with code {self.process.wait()}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"bench_store_cpp: {reply['error']}")
        return reply

    def round(self, task: str, snapshots: list[Any], record: bool) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"round {task} {self.per_round}\n")
        self.process.stdin.flush()
        reply = self._reply()
        if record:
            for op in OPS:
                self.samples[op].extend(int(ns) for ns in reply["samples_ns"][op])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


# ---------------------------------------------------------------- measurement


def _median_ns(values: list[int]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _quartiles(values: list[int]) -> tuple[float, float]:
    if len(values) < 4:
        return (float(min(values)), float(max(values))) if values else (float("nan"),) * 2
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def _measure_size(
    label: str,
    target: int,
    plan: tuple[int, int, int],
    cpp_bench: str | None,
    workdir: Path,
    progress: common.Progress,
    step: tuple[int, int],
) -> dict[str, Any]:
    rounds, per_round, asap_per_round = plan
    data = make_state(target)
    data_text = _core._dumps(data)
    data_file = workdir / f"data-{target}.json"
    data_file.write_bytes(data_text)
    model = common.snapshot_model()

    runners: list[_Runner] = []
    skipped: dict[str, str] = {}
    slug = label.replace(" ", "").lower()
    try:
        runners.append(
            _PythonRunner(
                NATIVE,
                per_round,
                asap_native.SQLiteSnapshotStore(workdir / f"native-{slug}.db"),
                data,
                model,
            )
        )
        runners.append(
            _PythonRunner(
                STDLIB,
                per_round,
                StdlibSnapshotStore(workdir / f"stdlib-{slug}.db", model),
                data,
                model,
            )
        )
        asap_cls = _asap_store_class()
        if asap_cls is None:
            skipped[ASAP] = "asap-protocol is not importable"
        else:
            runners.append(
                _PythonRunner(
                    ASAP, asap_per_round, asap_cls(db_path=workdir / f"asap-{slug}.db"), data, model
                )
            )
        if cpp_bench:
            runners.append(_CppRunner(per_round, cpp_bench, data_file, workdir / f"cpp-{slug}.db"))
        else:
            skipped[CPP] = "no --cpp-bench binary given"

        shuffle = random.Random(target)
        done, total = step
        for r in range(rounds + 1):  # round 0 warms caches and is not recorded
            task = f"round-{r}"
            snapshots = common.make_snapshots(model, task, per_round, data)
            order = list(runners)
            shuffle.shuffle(order)
            for runner in order:
                runner.round(task, snapshots, record=r > 0)
            progress((done + (r + 1) / (rounds + 1)) / total, f"stores {label}: round {r}/{rounds}")
    finally:
        for runner in runners:
            runner.close()

    results: dict[str, Any] = {
        "data_bytes": len(data_text),
        "stdlib_data_bytes": len(json.dumps(data)),
        "skipped": skipped,
        "median_ns": {},
        "quartiles_ns": {},
        "samples": {},
    }
    for runner in runners:
        results["median_ns"][runner.name] = {op: _median_ns(runner.samples[op]) for op in OPS}
        results["quartiles_ns"][runner.name] = {op: _quartiles(runner.samples[op]) for op in OPS}
        results["samples"][runner.name] = {op: len(runner.samples[op]) for op in OPS}
    results["conversion"] = _measure_conversion(data, data_text, model, max(50, rounds * 10))
    return results


def _per_call_median(call: Callable[[], Any], repeats: int) -> float:
    clock = time.perf_counter_ns
    times = []
    result: Any = None
    for _ in range(repeats):
        start = clock()
        result = call()
        times.append(clock() - start)
        del result  # freed outside the timing, as in the store rounds
    return float(statistics.median(times))


def _measure_conversion(data: dict, data_text: bytes, model: Any, repeats: int) -> dict[str, float]:
    """Where a call's time goes: JSON and model building alone, interleaved, median ns."""
    text = data_text.decode()
    fields = common.snapshot_fields("task-x", 1)
    construct = getattr(model, "model_construct", None)
    calls: dict[str, Callable[[], Any]] = {
        "json.dumps": lambda: json.dumps(data),
        "_core._dumps": lambda: _core._dumps(data),
        "json.loads": lambda: json.loads(text),
        "_core._loads": lambda: _core._loads(data_text),
        "StateSnapshot(...)": lambda: model(data=data, **fields),
    }
    if construct is not None:
        calls["StateSnapshot.model_construct(...)"] = lambda: construct(data=data, **fields)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    gc.collect()
    gc.disable()
    try:
        for _ in range(5):
            for name, call in calls.items():
                samples[name].append(_per_call_median(call, max(1, repeats // 5)))
    finally:
        gc.enable()
    return {name: statistics.median(values) for name, values in samples.items()}


# ---------------------------------------------------------------- targets and report


def _ratio(medians: dict[str, dict[str, float]], top: str, bottom: str, op: str) -> float | None:
    if top not in medians or bottom not in medians:
        return None
    return medians[top][op] / medians[bottom][op]


def _checks(sizes: dict[str, dict[str, Any]]) -> list[common.Check]:
    checks: list[common.Check] = []

    def add(
        name: str,
        value: float | None,
        target: str,
        ok: Callable[[float], bool],
        ceiling: float | None = None,
    ) -> None:
        checks.append(
            common.Check(name, value, target, None if value is None else ok(value), ceiling)
        )

    for label, result in sizes.items():
        m = result["median_ns"]
        add(
            f"save {label}: asap_native / C++ raw",
            _ratio(m, NATIVE, CPP, "save"),
            "<= 1.20",
            lambda v: v <= 1.2,
        )
        need = {
            ("save", "1 KB"): (1.0, "> 1.00"),
            ("save", "100 KB"): (1.5, ">= 1.50"),
            ("get", "1 KB"): (1.2, ">= 1.20"),
            ("get", "100 KB"): (1.0, ">= 1.00"),
        }
        for op in OPS:
            floor, text = need.get((op, label), (1.2, ">= 1.20"))
            strict = text.startswith(">") and not text.startswith(">=")
            add(
                f"{op} {label}: stdlib / asap_native",
                _ratio(m, STDLIB, NATIVE, op),
                text,
                (lambda v, f=floor: v > f) if strict else (lambda v, f=floor: v >= f),
                _ratio(m, STDLIB, CPP, op),
            )
        for op in OPS:
            add(
                f"{op} {label}: asap-protocol / asap_native",
                _ratio(m, ASAP, NATIVE, op),
                ">= 50",
                lambda v: v >= 50,
                _ratio(m, ASAP, CPP, op),
            )
    return checks


def _us(ns: float) -> str:
    us = ns / 1000
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.1f} µs" if us < 100 else f"{us:.0f} µs"


def _markdown(sizes: dict[str, dict[str, Any]], checks: list[common.Check], quick: bool) -> str:
    lines = [
        *common.opening("stores", quick),
        "Median time per call (interquartile range in brackets) and ratios; lower time is "
        "better, a ratio above 1 means asap_native is faster. `C++ raw` is the core store "
        "called from C++ with the data already JSON text: it does no JSON work on save and "
        "returns the text unparsed on get, so it is the floor of what the binding can reach.",
        "",
    ]
    for label, result in sizes.items():
        m, q, n = result["median_ns"], result["quartiles_ns"], result["samples"]
        present = [impl for impl in IMPLEMENTATIONS if impl in m]
        lines.append(
            f"### {label} data ({result['data_bytes']:,} bytes as stored by asap_native, "
            f"{result['stdlib_data_bytes']:,} by json.dumps)"
        )
        lines.append("")
        header = "| op | " + " | ".join(present) + " | native vs C++ | stdlib / native |"
        header += " asap-protocol / native |"
        lines += [header, "|" + "---|" * (len(present) + 4)]
        for op in OPS:
            cells = [f"{_us(m[i][op])} ({_us(q[i][op][0])}–{_us(q[i][op][1])})" for i in present]
            ratios = []
            for top, bottom in ((NATIVE, CPP), (STDLIB, NATIVE), (ASAP, NATIVE)):
                value = _ratio(m, top, bottom, op)
                ratios.append("n/a" if value is None else f"{value:.2f}x")
            lines.append(f"| {op} | " + " | ".join(cells + ratios) + " |")
        counts = ", ".join(f"{impl} {n[impl]['save']}" for impl in present)
        lines += ["", f"Calls timed per op: {counts}."]
        for impl, why in result["skipped"].items():
            lines.append(f"Not measured: {impl} ({why}).")
        lines.append("")

    lines += [
        "### Targets",
        "",
        "`C++ raw in its place` is the same ratio with the raw C++ store standing in for "
        "asap_native (no Python, no JSON work): no binding can beat it, so a target above it "
        "is out of reach on this machine whatever the binding does.",
        "",
        "| check | measured | target | result | C++ raw in its place |",
        "|---|---|---|---|---|",
    ]
    for check in checks:
        value = "n/a" if check.value is None else f"{check.value:.2f}x"
        ceiling = "" if check.ceiling is None else f"{check.ceiling:.2f}x"
        verdict = {True: "PASS", False: "**FAIL**", None: "not measured"}[check.passed]
        lines.append(f"| {check.name} | {value} | {check.target} | {verdict} | {ceiling} |")
    lines.append("")

    misses = [c for c in checks if c.passed is False]
    if misses:
        lines += ["### Misses", ""]
        lines += [f"- {_miss_text(check)}" for check in misses]
        lines.append("")

    lines += [
        "### Where the time goes: conversion alone",
        "",
        "Median per call, same data, nothing else timed. `_core._dumps`/`_core._loads` are "
        "asap_native's converters; the stdlib store uses `json.dumps`/`json.loads` and builds "
        "the model with validation (`StateSnapshot(...)`) as asap-protocol does, while "
        "asap_native builds it with `model_construct` (its rows come from its own schema).",
        "",
    ]
    names = list(next(iter(sizes.values()))["conversion"])
    lines += ["| call | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]
    for name in names:
        cells = [_us(result["conversion"][name]) for result in sizes.values()]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines.append("")
    if all(CPP in result["median_ns"] for result in sizes.values()):
        lines += _breakdown(sizes)
    return "\n".join(lines)


def _miss_text(check: common.Check) -> str:
    assert check.value is not None
    floor = float(check.target.lstrip("<>= "))
    if check.target.startswith("<"):
        over = check.value / floor - 1
        return (
            f"{check.name}: {check.value:.2f}x, {over:.0%} over the {check.target} target "
            f"(asap_native would need to take {over / (1 + over):.0%} less time)."
        )
    short = 1 - check.value / floor
    text = (
        f"{check.name}: {check.value:.2f}x against {check.target}, {short:.0%} short "
        f"(asap_native would need to be {check.value and floor / check.value:.2f}x as fast)."
    )
    if check.ceiling is not None:
        if check.ceiling < floor:
            text += (
                f" Out of reach for any binding here: the raw C++ store in its place reaches "
                f"only {check.ceiling:.2f}x."
            )
        else:
            text += f" The raw C++ store in its place reaches {check.ceiling:.2f}x."
    return text


def _breakdown(sizes: dict[str, dict[str, Any]]) -> list[str]:
    """save and get of asap_native split into measured parts; the rest is by difference."""
    rows: list[tuple[str, list[float]]] = []

    def part(name: str, pick: Callable[[dict[str, Any]], float]) -> list[float]:
        values = [pick(result) for result in sizes.values()]
        rows.append((name, values))
        return values

    native_save = part("save: asap_native", lambda r: r["median_ns"][NATIVE]["save"])
    cpp_save = part("save: raw C++ store (same JSON text)", lambda r: r["median_ns"][CPP]["save"])
    dumps = part("save: `_core._dumps` alone", lambda r: r["conversion"]["_core._dumps"])
    rows.append(
        (
            "save: rest (reading the snapshot, created_at, GIL, call), by difference",
            [n - c - d for n, c, d in zip(native_save, cpp_save, dumps, strict=False)],
        )
    )
    native_get = part("get: asap_native", lambda r: r["median_ns"][NATIVE]["get"])
    cpp_get = part(
        "get: raw C++ store (row read, text copied)", lambda r: r["median_ns"][CPP]["get"]
    )
    loads = part("get: `_core._loads` alone", lambda r: r["conversion"]["_core._loads"])
    build = part(
        "get: `StateSnapshot.model_construct` alone",
        lambda r: r["conversion"].get("StateSnapshot.model_construct(...)", 0.0),
    )
    rows.append(
        (
            "get: rest (created_at, field dict, GIL, call), by difference",
            [n - c - d - b for n, c, d, b in zip(native_get, cpp_get, loads, build, strict=False)],
        )
    )
    lines = [
        "### Where the time goes: asap_native's save and get in parts",
        "",
        "Each part is a median measured on its own (the store rounds above and the conversion "
        "table), so the parts need not add up exactly; the last row of each op is what is left.",
        "",
        "| part | " + " | ".join(sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for name, values in rows:
        cells = [("−" + _us(-v)) if v < 0 else _us(v) for v in values]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def run(
    progress: common.Progress | None = None,
    quick: bool = False,
    cpp_bench: str | os.PathLike[str] | None = None,
    plan: dict[str, tuple[int, int, int]] | None = None,
    sizes: Iterable[tuple[str, int]] = SIZES,
) -> dict[str, Any]:
    """Run the benchmark; returns figures, target checks and a markdown section.

    ``progress(fraction, message)`` is called as rounds complete. ``quick`` runs a few calls
    only (a smoke test). ``cpp_bench`` is the bench_store_cpp binary; without it the C++ column
    and the checks against it are reported as not measured. ``plan`` overrides the
    (rounds, calls per round, asap-protocol calls per round) of each size.
    """
    report = progress or common.no_progress
    chosen = {**PLANS["quick" if quick else "full"], **(plan or {})}
    if cpp_bench is not None and not Path(cpp_bench).is_file():
        raise FileNotFoundError(f"C++ benchmark binary not found: {cpp_bench} (run make bench)")
    size_list = list(sizes)
    results: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="asap-bench-", dir=common.temp_parent()) as tmp:
        for index, (label, target) in enumerate(size_list):
            results[label] = _measure_size(
                label,
                target,
                chosen[label],
                None if cpp_bench is None else str(cpp_bench),
                Path(tmp),
                report,
                (index, len(size_list)),
            )
    checks = _checks(results)
    return common.section(
        "stores", TITLE, _markdown(results, checks, quick), checks, results, started
    )


if __name__ == "__main__":
    common.main(run, __doc__, cpp_bench="path to the bench_store_cpp binary")
