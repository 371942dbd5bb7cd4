"""Smoke test of bench/bench_metering.py: it runs, checks its answers, returns numbers (no
timing asserted)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the bench package

from bench import bench_metering  # noqa: E402


def test_metering_benchmark_returns_numbers() -> None:
    result = bench_metering.run(quick=True, plan={"windows": 2, "rounds": 1})
    figures = result["figures"]["sizes"]["3k"]
    for phase in ("text_plan", "index_plan"):
        assert figures[phase]["exact"] == {
            bench_metering.NATIVE_SYNC: True,
            bench_metering.NATIVE_AWAIT: True,
        }
        assert all(ms > 0 for ms in figures[phase]["median_ms"].values())
        assert figures[phase]["asap_missing_per_window"] > 0  # asap compares text
    assert figures["aggregate"]["same_totals"]
    for where in ("in-process", "another process"):
        prune = figures[f"prune {where}"]
        assert prune["deleted"] == 3600 and prune["writes_lost"] == 0
        assert math.isfinite(prune["during"]["max_ms"])
    names = [check["name"] for check in result["checks"]]
    assert len(names) == 7 and len(set(names)) == 7
    assert "### Targets" in result["markdown"]
    assert result["name"] == "metering"
