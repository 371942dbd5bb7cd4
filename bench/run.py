"""Runs the project's benchmarks: every bench/bench_*.py module, one after the other.

    python bench/run.py [--only stores,compression] [--quick] [--cpp-bench PATH]
                        [--output docs/benchmarks.md] [--strict]
    python bench/run.py --chart-only [--output docs/benchmarks.md]

Each module exposes ``run(progress=None, **options) -> dict`` (options it does not accept
are not passed; see bench/README.md for the dict). Progress goes to stderr; a summary of
every target check goes to stdout; ``--output`` writes a markdown report with the command,
the machine and each module's section, the checks as JSON beside it (``.json``) and a chart
of them (``.png``). With ``--only``, the other modules' sections already in the report and
the JSON are kept, and the chart shows them all. ``--chart-only`` runs nothing: it redraws
the chart from the JSON. The exit status is 1 if a module crashed, and with ``--strict``
also if any target check FAILs.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
import os
import platform
import re
import shlex
import sqlite3
import sys
import textwrap
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: the repo root makes the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_REPORT = BENCH_DIR.parent / "docs" / "benchmarks.md"
# Modules run in this order; any other bench_*.py follows alphabetically.
PREFERRED_ORDER = ("stores", "compression", "async")


def discover() -> list[str]:
    """Names ("stores", ...) of the bench_*.py modules next to this file."""
    names = sorted(p.stem[len("bench_") :] for p in BENCH_DIR.glob("bench_*.py"))
    ranked = [n for n in PREFERRED_ORDER if n in names]
    return ranked + [n for n in names if n not in ranked]


# ---------------------------------------------------------------- progress


class Progress:
    """Progress display on stderr: one redrawn line on a terminal, sparse lines otherwise.

    Modules may call it as ``progress(fraction, message)``, ``progress(message)``,
    ``progress(done, total)`` or ``progress(done, total, message)``; fraction is 0..1.
    """

    def __init__(self, stream: Any = sys.stderr) -> None:
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.module = ""
        self.started = time.perf_counter()
        self.last_line = 0.0
        self.fraction = 0.0
        self.message = ""

    def start(self, module: str) -> None:
        self.module = module
        self.started = time.perf_counter()
        self.fraction, self.message = 0.0, "starting"
        self._draw(force=True)

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        numbers = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        texts = [str(a) for a in args if isinstance(a, str)]
        if "fraction" in kwargs:
            numbers = [kwargs["fraction"]]
        if "message" in kwargs:
            texts = [str(kwargs["message"])]
        if len(numbers) >= 2 and numbers[1]:
            self.fraction = float(numbers[0]) / float(numbers[1])
        elif numbers:
            self.fraction = float(numbers[0])
        self.fraction = min(max(self.fraction, 0.0), 1.0)
        if texts:
            self.message = " ".join(texts)
        self._draw()

    def finish(self, outcome: str) -> None:
        elapsed = time.perf_counter() - self.started
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(f"[{self.module}] {outcome} in {elapsed:.1f} s\n")
        self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        elapsed = time.perf_counter() - self.started
        if self.tty:
            filled = int(self.fraction * 24)
            bar = "#" * filled + "." * (24 - filled)
            line = f"[{self.module}] [{bar}] {self.fraction:4.0%} {elapsed:5.1f} s  {self.message}"
            self.stream.write("\r\033[K" + line[:150])
            self.stream.flush()
        elif force or time.perf_counter() - self.last_line >= 5:
            self.last_line = time.perf_counter()
            pct = f"{self.fraction:4.0%}"
            self.stream.write(f"[{self.module}] {pct} {elapsed:5.1f} s  {self.message}\n")
            self.stream.flush()


# ---------------------------------------------------------------- machine and command


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    load = common.load_average()
    info = {
        "CPU": cpu,
        "nproc": str(usable),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "SQLite": sqlite3.sqlite_version,
        "load average at start": load,
    }
    try:
        import asap_native

        info["asap_native"] = getattr(asap_native, "__version__", "?")
    except Exception as error:  # the report should still say what is missing
        info["asap_native"] = f"not importable ({error})"
    try:
        from importlib.metadata import version

        info["asap-protocol"] = version("asap-protocol")
    except Exception:
        info["asap-protocol"] = "not installed"
    return info


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed (or, when main() got its arguments from a caller, rebuilt)."""
    if argv is not None:
        words = ["python", "bench/run.py", *argv]
    else:
        words = list(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    text = shlex.join(words)
    if os.environ.get("MAKELEVEL"):
        return f"{text}  # run by make"
    return text


# ---------------------------------------------------------------- running modules


def run_module(name: str, progress: Progress, options: dict[str, Any]) -> dict[str, Any]:
    module = importlib.import_module(f"bench.bench_{name}")
    run = module.run
    params = inspect.signature(run).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in options.items() if takes_any or k in params}
    result = run(progress=progress, **kwargs)
    if not isinstance(result, dict):
        raise TypeError(f"bench_{name}.run() returned {type(result).__name__}, not dict")
    return result


def section_text(result: dict[str, Any]) -> str:
    for key in ("markdown", "section", "md"):
        if isinstance(result.get(key), str):
            return str(result[key]).strip()
    return "(this module returned no markdown section)"


def checks_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    raw = result.get("checks") or result.get("targets") or []
    checks = []
    for item in raw:
        if isinstance(item, dict) and "name" in item:
            checks.append(item)
    return checks


def verdict(passed: Any) -> str:
    return {True: "PASS", False: "FAIL"}.get(passed, "not measured")


def print_summary(results: dict[str, dict[str, Any]], errors: dict[str, str]) -> tuple[int, int]:
    """Prints every module's checks to stdout; returns (passed, failed)."""
    passed = failed = 0
    for name, result in results.items():
        checks = checks_of(result)
        print(f"\n== {name}: {result.get('title', name)}")
        if not checks:
            for line in result.get("summary", []) or ["(no target checks)"]:
                print(f"  {line}")
            continue
        width = max(len(str(c["name"])) for c in checks)
        for check in checks:
            value = check.get("value")
            unit = check.get("unit", "x")
            if isinstance(value, (int, float)):
                shown = f"{value:8.2f}x" if unit == "x" else f"{value:.3g} {unit}"
            else:
                shown = "n/a" if value is None else str(value)
            mark = verdict(check.get("passed"))
            passed += mark == "PASS"
            failed += mark == "FAIL"
            ceiling = check.get("ceiling")
            bound = ""
            if isinstance(ceiling, float):
                bound = f"  (C++ raw in its place: {ceiling:.2f}x)"
            target = str(check.get("target", ""))
            if unit != "x" and _TARGET.match(target):
                target = f"{target} {unit}"
            label = str(check["name"])
            print(f"  {label:<{width}}  {shown:>9}  target {target:<8} {mark:<4}{bound}")
    for name, error in errors.items():
        print(f"\n== {name}: CRASHED\n{error}")
    print(f"\n{passed} PASS, {failed} FAIL, {len(errors)} module(s) crashed")
    return passed, failed


# ---------------------------------------------------------------- the report


def _marker(name: str, end: bool = False) -> str:
    return f"<!-- bench:{name} {'end' if end else 'start'} -->"


def existing_sections(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(r"<!-- bench:(\w+) start -->\n(.*?)\n<!-- bench:\1 end -->", re.S)
    return {m.group(1): m.group(2) for m in pattern.finditer(text)}


def write_report(
    path: Path,
    order: list[str],
    results: dict[str, dict[str, Any]],
    errors: dict[str, str],
    info: dict[str, str],
    command: str,
    date: str,
    quick: bool,
) -> None:
    sections = existing_sections(path)
    stamp = f"_Measured {date} with `{command}`{' (quick smoke run)' if quick else ''}._"
    for name in order:
        if name in results:
            result = results[name]
            title = result.get("title", name)
            seconds = result.get("seconds")
            took = f" The module took {seconds:.0f} s." if isinstance(seconds, (int, float)) else ""
            sections[name] = f"## {title}\n\n{stamp}{took}\n\n{section_text(result)}"
        elif name in errors:
            sections[name] = f"## bench_{name}: crashed\n\n{stamp}\n\n```\n{errors[name]}\n```"
    names = [n for n in discover() if n in sections] + [n for n in sections if n not in discover()]

    lines = [
        "# Benchmarks",
        "",
        "Written by `bench/run.py` (`make bench`); do not edit by hand. Sections from earlier",
        "runs (`--only`) keep their own date and command line.",
        "",
        f"Latest run: {date}",
        "",
        f"Command: `{command}`",
        "",
        "![every measured ratio beside its target](benchmarks.png)",
        "",
        "| machine | |",
        "|---|---|",
    ]
    lines += [f"| {key} | {value} |" for key, value in info.items()]
    lines.append("")
    for name in names:
        lines += [_marker(name), sections[name].strip(), _marker(name, end=True), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


# ---------------------------------------------------------------- the checks as JSON


def results_path(report: Path) -> Path:
    """Where the checks behind ``report`` are kept: the same name, ``.json``."""
    return report.with_suffix(".json")


def load_results(path: Path) -> dict[str, dict[str, Any]]:
    """The sections of a results file ({} when there is none)."""
    if not path.is_file():
        return {}
    sections = json.loads(path.read_text(encoding="utf-8")).get("sections", {})
    return sections if isinstance(sections, dict) else {}


def write_results(
    path: Path,
    results: dict[str, dict[str, Any]],
    errors: dict[str, str],
    command: str,
    date: str,
    quick: bool,
) -> dict[str, dict[str, Any]]:
    """Writes every module's checks to ``path``, keeping earlier sections of modules not run
    (a crashed module's are dropped, as in the report); returns all the sections."""
    sections = {n: v for n, v in load_results(path).items() if n not in errors}
    for name, result in results.items():
        sections[name] = {
            "title": result.get("title", name),
            "measured": date,
            "command": command,
            "quick": quick,
            "checks": checks_of(result),
        }
    ordered = {n: sections[n] for n in discover() if n in sections}
    ordered.update(sections)
    document = {
        "written_by": "bench/run.py, beside the markdown report; --chart-only charts it",
        "sections": ordered,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=1, ensure_ascii=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")
    return ordered


# ---------------------------------------------------------------- the chart

_TARGET = re.compile(r"^\s*(<=|>=|<|>)\s*([0-9]+(?:\.[0-9]+)?)")
_RATIO = re.compile(r"^(?P<pre>.*?: )?(?P<top>[^/]+?) / (?P<bottom>[^/]+)$")
_COLOURS = {True: "#2e8b57", False: "#c0392b", None: "#a0a0a0"}
_LABEL_WIDTH = 70


@dataclass
class ChartRow:
    """One check as the chart draws it: every figure reads "times better, higher is better"."""

    label: str
    group: str  # rows of one group stand together (stores: one peer)
    score: float | None  # None: not measured
    target: float | None  # None: not a target
    ceiling: float | None
    passed: bool | None


def chart_row(check: dict[str, Any]) -> ChartRow:
    """A check turned so that higher is better.

    A ratio whose target is an upper bound (our time over the peer's) is inverted, name and
    all; a measurement in a unit (lag in ms, memory in MiB) becomes its limit over the value,
    "times under the limit", whose target is 1.
    """
    name = str(check["name"])
    value = check.get("value")
    unit = check.get("unit", "x")
    ceiling = check.get("ceiling")
    match = _TARGET.match(str(check.get("target", "")))
    upper = match is not None and match.group(1).startswith("<")
    bound = float(match.group(2)) if match else None
    measured = isinstance(value, (int, float)) and value > 0 and math.isfinite(value)
    score = float(value) if measured else None
    label, target = name, bound
    if not isinstance(ceiling, (int, float)) or ceiling <= 0:
        ceiling = None
    if unit != "x":
        counted = isinstance(value, (int, float)) and math.isfinite(value)  # 0 included
        shown = f"{value:.3g} {unit}" if counted else "not measured"
        limit = f", limit {bound:g} {unit}" if match else ""
        label = f"{name}: {shown}{limit}"
        if bound is not None and score is not None:
            score = bound / score if upper else score / bound
            target = 1.0
        ceiling = None
    elif upper:
        ratio = _RATIO.match(name)
        if ratio:
            label = f"{ratio['pre'] or ''}{ratio['bottom']} / {ratio['top']}"
        score = None if score is None else 1 / score
        target = None if not bound else 1 / bound
        ceiling = None if ceiling is None else 1 / ceiling
    if unit != "x":
        group = unit  # measurements under a limit stand together
    else:
        group = name.rpartition(": ")[2] if ": " in name else ""
    return ChartRow(label, group, score, target, ceiling, check.get("passed"))


def _charted(check: dict[str, Any]) -> bool:
    """A measurement in a unit (ms, MiB) with no limit has no "times better" to draw: it
    stays in the report's tables only."""
    return check.get("unit", "x") == "x" or _TARGET.match(str(check.get("target", ""))) is not None


def _grouped(rows: list[ChartRow]) -> list[ChartRow]:
    """Rows of a group together, groups in order of first appearance, rows in their order."""
    first: dict[str, int] = {}
    for index, row in enumerate(rows):
        first.setdefault(row.group, index)
    return sorted(rows, key=lambda row: first[row.group])


def _text_at(row: ChartRow) -> float:
    """Where a row's value is printed: just right of its bar (or of parity), or of a target
    or ceiling mark standing there."""
    assert row.score is not None
    at = max(row.score, 1.0) * 1.1
    for mark in sorted(x for x in (row.target, row.ceiling) if x):
        if at / 1.1 <= mark <= at * 2.4:
            at = mark * 1.15
    return at


def _times(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}x"
    if value >= 10:
        return f"{value:.1f}x"
    return f"{value:.2f}x"


def write_chart(path: Path, sections: dict[str, dict[str, Any]]) -> bool:
    """A PNG with one panel per benchmark module: every check as "times better than the
    peer", higher is better, beside its target; False without matplotlib or checks."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    except ImportError:
        return False
    panels = []
    for section in sections.values():
        rows = _grouped(
            [chart_row(check) for check in section.get("checks", []) if _charted(check)]
        )
        if rows:
            panels.append((section, rows))
    if not panels:
        return False

    marks = [1.0]
    for _, rows in panels:
        for row in rows:
            marks += [x for x in (row.score, row.target, row.ceiling) if x]
    low = min(marks) / 1.5
    high = max(marks) * 4  # room for the value printed right of each row
    row_inch = 0.3
    heights = [len(rows) + 2.2 for _, rows in panels]
    figure = plt.figure(figsize=(13, row_inch * sum(heights) + 1.6), layout="constrained")
    grid = figure.add_gridspec(len(panels), 1, height_ratios=heights)
    for index, (section, rows) in enumerate(panels):
        axes = figure.add_subplot(grid[index])
        positions = list(range(len(rows)))
        for y, row in zip(positions, rows, strict=True):
            colour = _COLOURS.get(row.passed, _COLOURS[None])
            if row.score is None:
                # A count of zero under a limit: no ratio to draw, but a result.
                text = "none: within the limit" if row.passed else "not measured"
                axes.text(1.08, y, text, va="center", fontsize=8, color="#707070")
                continue
            # Bars grow from parity (1x): right of it better than the peer, left of it worse.
            axes.barh(y, row.score - 1, left=1, height=0.62, color=colour)
            if row.target is not None:
                axes.vlines(row.target, y - 0.42, y + 0.42, color="black", lw=2.2)
            if row.ceiling is not None:
                axes.plot(row.ceiling, y, "D", ms=5, mfc="white", mec="#1f4e79", mew=1.3)
            text = _times(row.score) + (" FAIL" if row.passed is False else "")
            axes.text(
                _text_at(row),
                y,
                text,
                va="center",
                fontsize=8.5,
                fontweight="bold",
                color=colour if row.passed is not None else "#606060",
            )
        for y in range(1, len(rows)):
            if rows[y].group != rows[y - 1].group:
                axes.axhline(y - 0.5, color="#c8c8c8", lw=0.8)
        axes.axvline(1, color="#404040", lw=0.9)
        axes.set_xscale("log")
        axes.set_xlim(low, high)
        axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}x"))
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.grid(axis="x", which="major", color="#e4e4e4", lw=0.8)
        axes.set_axisbelow(True)
        axes.set_yticks(positions)
        axes.set_yticklabels(
            [textwrap.fill(row.label, _LABEL_WIDTH, break_on_hyphens=False) for row in rows],
            fontsize=8.5,
        )
        axes.set_ylim(len(rows) - 0.5, -0.5)
        verdicts = [row.passed for row in rows]
        counts = f"{verdicts.count(True)} PASS, {verdicts.count(False)} FAIL"
        quick = ", quick smoke run: not meaningful" if section.get("quick") else ""
        axes.set_title(
            f"{section.get('title', '')}: {counts} (measured {section.get('measured', '?')}"
            f"{quick})",
            loc="left",
            fontsize=10.5,
            fontweight="bold",
        )
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
    figure.suptitle(
        "asap-native against its peers: how many times better (higher is better, log scale)",
        fontsize=13,
        fontweight="bold",
    )
    legend = [
        Patch(color=_COLOURS[True], label="target met"),
        Patch(color=_COLOURS[False], label="target missed"),
        Patch(color=_COLOURS[None], label="not a target"),
        Line2D([], [], color="black", lw=2.2, label="target"),
    ]
    if any(row.ceiling for _, rows in panels for row in rows):
        ceiling = "raw C++ store in asap_native's place"
        legend.append(Line2D([], [], ls="", marker="D", mfc="white", mec="#1f4e79", label=ceiling))
    figure.legend(
        handles=legend, loc="outside lower center", ncols=len(legend), fontsize=9, frameon=False
    )
    figure.text(
        0.5,
        0,
        "Bars start at parity (1x). A ratio of times is the peer's over asap-native's, a "
        "ratio of rates asap-native's over the peer's; a limit (event-loop lag, bomb memory) "
        "is the limit over the measured value.",
        ha="center",
        va="top",
        fontsize=9,
        color="#404040",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight", pad_inches=0.25)
    plt.close(figure)
    return True


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run asap-native's benchmarks.")
    parser.add_argument("--only", help="comma-separated modules to run, e.g. 'stores'")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (few calls)")
    parser.add_argument("--cpp-bench", help="the bench_store_cpp binary (built by make bench)")
    parser.add_argument("--output", type=Path, help="write the markdown report here")
    parser.add_argument("--list", action="store_true", help="list the modules and exit")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any target FAILs")
    parser.add_argument(
        "--chart-only",
        action="store_true",
        help="run nothing: redraw the chart from the JSON beside --output (default "
        "docs/benchmarks.md)",
    )
    args = parser.parse_args(argv)

    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    if args.chart_only:
        report = args.output or DEFAULT_REPORT
        chart = report.with_suffix(".png")
        if not write_chart(chart, load_results(results_path(report))):
            print(f"no chart: matplotlib or {results_path(report)} missing", file=sys.stderr)
            return 1
        print(f"wrote {chart}", file=sys.stderr)
        return 0
    order = available
    if args.only:
        wanted = [n.strip().removeprefix("bench_") for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in available]
        if unknown:
            parser.error(f"unknown module(s) {unknown}; available: {', '.join(available)}")
        order = [n for n in available if n in wanted]

    info = machine()
    command = command_line(argv)
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    options: dict[str, Any] = {"quick": args.quick}
    if args.cpp_bench:
        options["cpp_bench"] = args.cpp_bench

    progress = Progress()
    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for name in order:
        progress.start(name)
        started = time.perf_counter()
        try:
            result = run_module(name, progress, options)
        except Exception:
            errors[name] = traceback.format_exc()
            progress.finish("CRASHED")
            continue
        result.setdefault("seconds", time.perf_counter() - started)
        results[name] = result
        progress.finish("done")

    info["load average at end"] = common.load_average()
    _, failed = print_summary(results, errors)
    if args.output:
        write_report(args.output, order, results, errors, info, command, date, args.quick)
        print(f"wrote {args.output}", file=sys.stderr)
        data = results_path(args.output)
        sections = write_results(data, results, errors, command, date, args.quick)
        print(f"wrote {data}", file=sys.stderr)
        chart = args.output.with_suffix(".png")
        if write_chart(chart, sections):
            print(f"wrote {chart}", file=sys.stderr)
    if errors or (args.strict and failed):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
