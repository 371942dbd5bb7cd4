"""What the benchmark modules share: their target checks, the progress callback, the snapshot
model and builder, and where their temporary databases go.

The compression bombs and the event-loop lag monitor are the test suite's own
(``tests_py/_bombs.py``, ``tests_py/_async_helpers.py``), imported from there.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
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


def script_parser(doc: str | None) -> argparse.ArgumentParser:
    """The command line of a module run on its own: its docstring's first line and --quick."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few calls only (a smoke run)")
    return parser


def print_progress(fraction: float, message: str) -> None:
    """The progress of a module run on its own: one line on stderr, redrawn."""
    print(f"\r\033[K{fraction:4.0%} {message}"[:120], end="", file=sys.stderr)
