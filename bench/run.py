"""Runs the project's benchmarks: every bench/bench_*.py module, one after the other.

    python bench/run.py [--only stores,compression] [--quick] [--cpp-bench PATH]
                        [--output docs/benchmarks.md] [--strict]

Each module exposes ``run(progress=None, **options) -> dict`` (options it does not accept
are not passed; see bench/README.md for the dict). Progress goes to stderr; a summary of
every target check goes to stdout; ``--output`` writes a markdown report with the command,
the machine and each module's section (with ``--only``, the other modules' sections already
in the file are kept). The exit status is 1 if a module crashed, and with ``--strict`` also
if any target check FAILs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import os
import platform
import re
import shlex
import sqlite3
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if not __package__:  # run as a script: the repo root makes the bench package importable
    sys.path.insert(0, str(BENCH_DIR.parent))
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
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
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
            if unit != "x" and _target_number(target) is not None:
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


# ---------------------------------------------------------------- the chart


def _target_number(target: str) -> float | None:
    match = re.search(r"([0-9]+(?:\.[0-9]+)?)", str(target))
    return float(match.group(1)) if match else None


def write_chart(path: Path, results: dict[str, dict[str, Any]]) -> bool:
    """A PNG of every measured ratio beside its target (log scale); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = []
    for name, result in results.items():
        for check in checks_of(result):
            value = check.get("value")
            if isinstance(value, (int, float)) and value > 0:
                rows.append(
                    (
                        f"{name}: {check['name']}",
                        float(value),
                        _target_number(check.get("target", "")),
                        check.get("passed"),
                    )
                )
    if not rows:
        return False
    height = max(3.0, 0.32 * len(rows) + 1.2)
    figure, axes = plt.subplots(figsize=(13, height))
    labels = [row[0] for row in rows][::-1]
    values = [row[1] for row in rows][::-1]
    colours = [
        "#2e8b57" if row[3] else "#c0392b" if row[3] is False else "#999999" for row in rows
    ][::-1]
    positions = range(len(rows))
    axes.barh(list(positions), values, color=colours)
    for position, row in zip(positions, rows[::-1], strict=False):
        if row[2]:
            axes.plot([row[2], row[2]], [position - 0.4, position + 0.4], color="black", lw=1.5)
    axes.set_xscale("log")
    axes.set_yticks(list(positions))
    axes.set_yticklabels(labels, fontsize=7)
    axes.set_xlabel("measured ratio (bar; green = target met) and target (black tick), log scale")
    axes.set_title("asap-native benchmarks: ratios against their targets")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
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
    args = parser.parse_args(argv)

    available = discover()
    if args.list:
        print("\n".join(available))
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

    with contextlib.suppress(OSError):
        info["load average at end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    _, failed = print_summary(results, errors)
    if args.output:
        write_report(args.output, order, results, errors, info, command, date, args.quick)
        print(f"wrote {args.output}", file=sys.stderr)
        chart = args.output.with_suffix(".png")
        if not args.only and write_chart(chart, results):
            print(f"wrote {chart}", file=sys.stderr)
    if errors or (args.strict and failed):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
