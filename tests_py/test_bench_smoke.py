"""Smoke tests for bench/: the benchmark code runs and returns numbers (no timing asserted)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the bench package

from bench import bench_stores, common  # noqa: E402
from bench import run as bench_run  # noqa: E402
from bench.stdlib_store import StdlibSnapshotStore  # noqa: E402

TINY = {"1 KB": (1, 2, 1), "100 KB": (1, 2, 1)}


def _cpp_bench() -> Path | None:
    path = Path(os.environ.get("ASAP_BENCH_CPP", ROOT / "build/bench/bench_store_cpp"))
    return path if path.is_file() else None


def test_percentile_is_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert common.percentile(values, 50) == 3.0
    assert common.percentile(values, 99) == 5.0
    assert common.percentile(values, 0) == 1.0
    assert common.percentile(list(range(1, 101)), 99) == 99


def test_make_state_hits_the_target_size() -> None:
    from asap_native import _core

    for target in (1024, 100 * 1024):
        state = bench_stores.make_state(target)
        assert len(_core._dumps(state)) == target
        assert isinstance(state["messages"], list) and state["messages"]


def test_stdlib_store_behaves_like_a_snapshot_store(tmp_path: Path) -> None:
    from asap.models.entities import StateSnapshot

    store = StdlibSnapshotStore(tmp_path / "s.db")
    when = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for v in (2, 1, 3):
        store.save(
            StateSnapshot(id=f"s{v}", task_id="t", version=v, data={"v": v}, created_at=when)
        )
    latest = store.get("t")
    assert isinstance(latest, StateSnapshot)
    assert (latest.version, latest.data, latest.created_at) == (3, {"v": 3}, when)
    assert store.get("t", 1).data == {"v": 1}
    assert store.get("missing") is None
    assert store.list_versions("t") == [1, 2, 3]
    assert store.delete("t", 2) is True
    assert store.delete("t", 2) is False
    assert store.delete("t") is True
    assert store.list_versions("t") == []
    store.close()


def test_stores_benchmark_returns_numbers_for_every_store_and_op() -> None:
    result = bench_stores.run(quick=True, plan=TINY)
    assert set(result["figures"]) == {"1 KB", "100 KB"}
    for figures in result["figures"].values():
        medians = figures["median_ns"]
        assert set(medians) == {"asap_native", "stdlib", "asap-protocol"}
        for per_op in medians.values():
            assert set(per_op) == set(bench_stores.OPS)
            assert all(math.isfinite(ns) and ns > 0 for ns in per_op.values())
        assert "C++ raw" in figures["skipped"]
    checks = result["checks"]
    assert len(checks) == 18
    for check in checks:
        if "C++" in check["name"]:
            assert check["passed"] is None and check["value"] is None
        else:
            assert isinstance(check["passed"], bool) and check["value"] > 0
    assert "### Targets" in result["markdown"]


@pytest.mark.skipif(_cpp_bench() is None, reason="bench_store_cpp not built (make bench)")
def test_cpp_driver_reports_medians(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    data.write_text('{"a": [1, 2, {"b": "c"}]}')
    out = subprocess.run(
        [
            str(_cpp_bench()),
            "--data",
            str(data),
            "--db",
            str(tmp_path / "c.db"),
            "--iterations",
            "3",
            "--rounds",
            "2",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["op"] for line in lines] == list(bench_stores.OPS)
    assert all(line["n"] == 6 and line["median_ns"] > 0 for line in lines)


def test_cpp_driver_rejects_bad_arguments(tmp_path: Path) -> None:
    binary = _cpp_bench()
    if binary is None:
        pytest.skip("bench_store_cpp not built (make bench)")
    done = subprocess.run(
        [str(binary), "--iterations", "x"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "non-negative integer" in done.stderr


def test_runner_writes_report_and_keeps_other_sections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "benchmarks.md"
    report.write_text(
        "<!-- bench:compression start -->\n## Compression\n\nolder figures\n"
        "<!-- bench:compression end -->\n"
    )
    monkeypatch.setattr(bench_stores, "PLANS", {"quick": TINY, "full": TINY})
    code = bench_run.main(["--only", "stores", "--quick", "--output", str(report)])
    assert code == 0
    text = report.read_text()
    assert "<!-- bench:stores start -->" in text and "older figures" in text
    assert "| SQLite |" in text and "--only stores" in text
    summary = capsys.readouterr().out
    assert "save 1 KB: stdlib / asap_native" in summary
    assert re.search(r"^\d+ PASS, \d+ FAIL, 0 module\(s\) crashed$", summary, re.M)


def test_runner_rejects_unknown_module() -> None:
    with pytest.raises(SystemExit):
        bench_run.main(["--only", "nosuchbench"])


def test_chart_rows_read_higher_is_better() -> None:
    check = {"name": "save 1 KB: asap_native / C++ raw", "value": 1.25, "target": "<= 1.20"}
    inverted = bench_run.chart_row({**check, "passed": False})
    assert inverted.label == "save 1 KB: C++ raw / asap_native"
    assert inverted.score == pytest.approx(0.8) and inverted.target == pytest.approx(1 / 1.2)
    faster = bench_run.chart_row(
        {"name": "get: stdlib / asap_native", "value": 2.0, "target": ">= 1.20", "ceiling": 4.0}
    )
    assert (faster.score, faster.target, faster.ceiling) == (2.0, 1.2, 4.0)
    lag = bench_run.chart_row({"name": "lag p99", "value": 0.5, "target": "< 1", "unit": "ms"})
    assert (lag.score, lag.target, lag.label) == (2.0, 1.0, "lag p99: 0.5 ms, limit 1 ms")
    info = bench_run.chart_row({"name": "x: 2 threads vs 1", "value": None, "target": "(info)"})
    assert (info.score, info.target) == (None, None)


def test_chart_leaves_out_measurements_without_a_limit() -> None:
    wait = {"name": "longest wait", "value": 150.0, "target": "(info)", "unit": "ms"}
    assert not bench_run._charted(wait)
    assert bench_run._charted({**wait, "target": "< 1000"})
    assert bench_run._charted({"name": "a / b", "value": 3.0, "target": "(info)"})


def test_runner_keeps_checks_as_json_and_charts_them_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "benchmarks.md"
    older = {"title": "Older", "measured": "then", "quick": False, "checks": []}
    (tmp_path / "benchmarks.json").write_text(json.dumps({"sections": {"compression": older}}))
    monkeypatch.setattr(bench_stores, "PLANS", {"quick": TINY, "full": TINY})
    assert bench_run.main(["--only", "stores", "--quick", "--output", str(report)]) == 0
    sections = bench_run.load_results(tmp_path / "benchmarks.json")
    assert list(sections) == ["stores", "compression"] and sections["compression"] == older
    assert len(sections["stores"]["checks"]) == 18 and sections["stores"]["quick"] is True
    chart = tmp_path / "benchmarks.png"
    chart.unlink(missing_ok=True)
    drawn = bench_run.main(["--chart-only", "--output", str(report)])
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert drawn == 1 and not chart.exists()
    else:
        assert drawn == 0 and chart.read_bytes().startswith(b"\x89PNG")
