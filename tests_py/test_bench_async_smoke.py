"""Smoke test for bench/bench_async.py: runs in quick mode, returns numbers (no timing asserted)."""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the bench package

from bench import bench_async


def _finite_positive(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_lag_monitor_records_late_wakeups() -> None:
    async def main() -> list[float]:
        async with bench_async.LagMonitor(bench_async.LAG_INTERVAL) as monitor:
            await asyncio.sleep(0.01)
            bench_async.time.sleep(0.02)  # blocks the loop: the monitor must see it
            await asyncio.sleep(0.005)
        return monitor.lags

    lags = asyncio.run(main())
    assert lags and max(lags) >= 0.01


@pytest.fixture(scope="module")
def quick_result() -> dict:
    return bench_async.run(quick=True)


def test_quick_run_measures_every_store_op_and_concurrency(quick_result: dict) -> None:
    figures = quick_result["figures"]
    configs = figures["configs"]
    expected = {
        f"{impl}|{op}|{tasks}|normal"
        for impl in bench_async.IMPLEMENTATIONS
        for op in bench_async.OPS
        for tasks in bench_async.CONCURRENCY
    }
    expected.add(f"{bench_async.NATIVE_ASYNC}|save|64|full")
    assert set(configs) == expected
    for key, config in configs.items():
        for name in ("ops_per_s", "p50_us", "p99_us", "loop_cpu_us_per_op"):
            assert _finite_positive(config[name]), (key, name, config[name])
        assert config["p99_us"] >= config["p50_us"]
        assert config["lag_samples"] > 0 and config["lag_max_us"] >= config["lag_p99_us"]
        assert config["runs"] == 1
    native_save = configs[f"{bench_async.NATIVE_ASYNC}|save|64|normal"]
    assert native_save["store_stats"]["writes"] == native_save["ops_per_run"]
    assert native_save["bridge_stats"]["pushed"] == native_save["ops_per_run"]
    for durability in ("normal", "full"):
        assert _finite_positive(figures["sync_save_ops_per_s"][durability]["median"])


def test_quick_run_reports_every_target_with_a_verdict(quick_result: dict) -> None:
    checks = quick_result["checks"]
    names = [check["name"] for check in checks]
    assert len(names) == len(set(names)) == 21
    for check in checks:
        assert isinstance(check["passed"], bool), check
        assert _finite_positive(check["value"]), check
    markdown = quick_result["markdown"]
    assert "### Targets" in markdown and "Quick run" in markdown
    verdicts = markdown.count("| PASS |") + markdown.count("| **FAIL** |")
    assert verdicts == len(checks)
