"""What the benchmark modules share: their target checks, the progress callback, the snapshot
model and builder, where their temporary databases go, the frame of a module's ``run()``
(``Benchmark``) and the command line of a module run on its own.

The compression bombs and the event-loop lag monitor are the test suite's own
(``tests_py/_bombs.py``, ``tests_py/_async_helpers.py``), imported from there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# ``progress(fraction, message)``, fraction 0..1 (run.Progress accepts more forms).
Progress = Callable[..., Any]

CREATED_AT = datetime(2025, 1, 1, tzinfo=timezone.utc)


def no_progress(*_args: Any, **_kwargs: Any) -> None:
    """The progress callback of a module run without one."""


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as the reports print them."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


def temp_parent() -> str | None:
    """The folder for the benchmarks' databases: $ASAP_BENCH_TMPDIR, else the system's.

    They belong on a disk-backed filesystem like a real deployment's, not tmpfs:
    durability="full" must pay for real fsyncs.
    """
    return os.environ.get("ASAP_BENCH_TMPDIR") or None


def snapshot_model() -> Callable[..., Any]:
    """asap-protocol's StateSnapshot, or asap_native's own when asap-protocol does not import."""
    try:
        from asap.models.entities import StateSnapshot
    except Exception:
        import asap_native

        return asap_native.StateSnapshot
    return StateSnapshot


def snapshot_fields(task: str, version: int) -> dict[str, Any]:
    """The fields of version ``version`` of ``task`` but its data."""
    return {
        "id": f"snap-{task}-{version}",
        "task_id": task,
        "version": version,
        "checkpoint": False,
        "created_at": CREATED_AT,
    }


def make_snapshots(model: Callable[..., Any], task: str, count: int, data: dict) -> list[Any]:
    """Versions 1..count of ``task``, all holding ``data``."""
    return [model(data=data, **snapshot_fields(task, v)) for v in range(1, count + 1)]


@dataclasses.dataclass
class Check:
    """A target check: what was measured beside its target. run.py prints and charts them."""

    name: str
    value: float | None  # None when it could not be measured
    target: str  # ">= 1.20", "<= 1.20", "< 1"; anything else is not a target ("(info)")
    passed: bool | None  # None: not measured, or not a target
    # The same ratio with the raw C++ store in asap_native's place: what a binding with no
    # cost at all would reach, which shows whether the target is reachable on this machine.
    ceiling: float | None = None
    # "x": value is a ratio (of times or rates, as the name says); otherwise value is a
    # measurement in this unit and the target its limit.
    unit: str = "x"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def shown_value(value: float | None, unit: str = "x") -> str:
    """A check's measured value as the reports print it: "1.23x", "0.412 ms", "n/a"."""
    if value is None:
        return "n/a"
    return f"{value:.2f}x" if unit == "x" else f"{value:.3g} {unit}"


def opening(name: str, quick: bool) -> list[str]:
    """The first lines of module ``name``'s section: how to reproduce it, and a warning when
    it is a quick run."""
    lines = [
        f"Reproduce: `python bench/bench_{name}.py` (or `python bench/run.py --only {name}`).",
        "",
    ]
    if quick:
        lines += ["**Quick run (smoke test): too few calls for the figures to mean much.**", ""]
    return lines


def targets_table(checks: Sequence[Check]) -> list[str]:
    """The "Targets" part of a section: each check, its measured value, target and verdict."""
    lines = ["### Targets", "", "| check | measured | target | result |", "|---|---|---|---|"]
    for check in checks:
        is_target = check.target.startswith(("<", ">"))
        target = f"{check.target} {check.unit}" if is_target and check.unit != "x" else check.target
        verdict = {True: "PASS", False: "**FAIL**"}.get(check.passed)
        verdict = verdict or ("not measured" if is_target else "info")
        lines.append(
            f"| {check.name} | {shown_value(check.value, check.unit)} | {target} | {verdict} |"
        )
    return [*lines, ""]


def section(
    name: str,
    title: str,
    markdown: str,
    checks: Sequence[Check],
    figures: dict[str, Any],
    started: float,
) -> dict[str, Any]:
    """What a module's ``run()`` returns (see README.md); ``started`` is its perf_counter()."""
    return {
        "name": name,
        "title": title,
        "markdown": markdown,
        "checks": [check.as_dict() for check in checks],
        "figures": figures,
        "seconds": time.perf_counter() - started,
    }


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """The ``run()`` of a module that measures in a temporary folder against a plan.

    ``plans`` holds a "full" and a "quick" plan; ``measure(plan, folder, progress)`` returns
    the figures, ``checks(figures)`` the target checks and ``markdown(figures, checks,
    quick)`` the section body, after ``opening``. The load average before / after lands in
    ``figures["load"]``.
    """

    name: str
    title: str
    plans: dict[str, dict[str, Any]]
    measure: Callable[[dict[str, Any], Path, Progress], dict[str, Any]]
    checks: Callable[[dict[str, Any]], list[Check]]
    markdown: Callable[[dict[str, Any], list[Check], bool], str]

    def __call__(
        self,
        progress: Progress | None = None,
        quick: bool = False,
        plan: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run the benchmark; returns figures, target checks and a markdown section.

        ``progress(fraction, message)`` is called as it goes. ``quick`` makes a few calls only
        (a smoke test). ``plan`` overrides entries of the chosen plan (see ``plans``).
        """
        chosen = {**self.plans["quick" if quick else "full"], **(plan or {})}
        started = time.perf_counter()
        load_before = load_average()
        prefix = f"asap-bench-{self.name}-"
        with tempfile.TemporaryDirectory(prefix=prefix, dir=temp_parent()) as folder:
            figures = self.measure(chosen, Path(folder), progress or no_progress)
        figures["load"] = f"{load_before} / {load_average()}"
        checks = self.checks(figures)
        markdown = "\n".join([*opening(self.name, quick), self.markdown(figures, checks, quick)])
        return section(self.name, self.title, markdown, checks, figures, started)


def script_parser(doc: str | None) -> argparse.ArgumentParser:
    """The command line of a module run on its own: its docstring's first line, --quick and
    --json (see ``print_result``)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few calls only (a smoke run)")
    parser.add_argument("--json", help="also write the figures as JSON to this file")
    return parser


def main(run: Callable[..., dict[str, Any]], doc: str | None, **options: str) -> None:
    """Run a module on its own: ``run`` with --quick, and each of ``options`` (an extra keyword
    of ``run``, mapped to its help) as a --flag; prints the result (see ``print_result``)."""
    parser = script_parser(doc)
    for option, help_text in options.items():
        parser.add_argument(f"--{option.replace('_', '-')}", help=help_text)
    args = parser.parse_args()
    chosen = {option: getattr(args, option) for option in options}
    print_result(run(progress=print_progress, quick=args.quick, **chosen), args.json)


def print_result(result: dict[str, Any], json_path: str | None = None) -> None:
    """What a module run on its own prints: the section on stdout, each check's verdict on
    stderr; the figures also go to ``json_path`` when given."""
    print(file=sys.stderr)  # ends print_progress's line
    if json_path:
        Path(json_path).write_text(json.dumps(result["figures"], indent=1, default=str))
    print(result["markdown"])
    for check in result["checks"]:
        verdict = {True: "PASS", False: "FAIL"}.get(check["passed"], "info")
        shown = shown_value(check["value"], check.get("unit", "x"))
        print(f"{verdict:4}  {check['name']}: {shown}", file=sys.stderr)


def print_progress(fraction: float, message: str) -> None:
    """The progress of a module run on its own: one line on stderr, redrawn."""
    print(f"\r\033[K{fraction:4.0%} {message}"[:120], end="", file=sys.stderr)
