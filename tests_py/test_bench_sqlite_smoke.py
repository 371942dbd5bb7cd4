"""Smoke tests for bench/bench_sqlite.py: one trial runs and the report is built from it.

The builds themselves (CMake, a few minutes) are left to the benchmark; the trial runs here on
the asap_native under test, and the report code gets those figures under every build's name.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import bench_sqlite  # noqa: E402


def test_trial_times_every_op(tmp_path: Path) -> None:
    figures = bench_sqlite.trial(str(tmp_path), bench_sqlite.PLANS["quick"])
    import asap_native

    assert figures["sqlite_version"] == asap_native.sqlite_version
    for op, _, _ in bench_sqlite.OPS:
        assert math.isfinite(figures[op]) and figures[op] > 0


def test_report_names_every_build_and_option(tmp_path: Path) -> None:
    trial = bench_sqlite.trial(str(tmp_path), bench_sqlite.PLANS["quick"])
    chosen = bench_sqlite.builds(quick=False)
    figures = {
        "plan": {"rounds": 1},
        "builds": {name: {**trial, "defines": defines} for name, (_, defines) in chosen.items()},
    }
    text = bench_sqlite._markdown(figures, quick=False)
    assert "bundled vs system" in text
    for label, _ in bench_sqlite.ABLATIONS:
        assert f"| {label} |" in text
    checks = bench_sqlite._checks(figures)
    assert checks and all(check.value == 1.0 for check in checks)
