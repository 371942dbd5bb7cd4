"""The failover demo (``make demo``): a whole run in a subprocess; its checker on bad stores."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import asap_native

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO = EXAMPLES / "failover_demo.py"


def load_demo() -> Any:
    if "failover_demo" in sys.modules:
        return sys.modules["failover_demo"]
    spec = importlib.util.spec_from_file_location("failover_demo", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["failover_demo"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_demo_runs_and_passes() -> None:
    for name in ("asap", "uvicorn", "httpx"):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"{name} is not installed")
    result = subprocess.run(
        [sys.executable, str(DEMO)],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for line in (
        r"primary\s+listening on 127\.0\.0\.1:\d+",
        r"corrupt gzip body -> 400 from DecompressionMiddleware",
        r"task\.request -> primary \(httpx, gzip \d+ -> \d+ bytes\)",
        r"primary\s+step 1 committed \(snapshot v1, partial_sum=1\)",
        r"SIGKILL -> primary \(pid \d+\)",
        r"primary is gone \(exit status -9\)",
        r"backup\s+restored v\d+ \(step \d+, partial_sum=\d+, saved by primary\)",
        r"task\.request resume -> backup \(ASAPClient, (br|gzip), \d+ bytes\): reply 'working'",
        r"backup\s+step 24 committed",
        r"backup\s+finished: step 24, result partial_sum=4900",
        r"backup exited with status 0",
        r"ok\s+versions are contiguous 1\.\.24",
        r"PASS: no committed snapshot was lost",
    ):
        assert re.search(line, out), f"missing {line!r} in:\n{out}"
    assert "FAIL" not in out
    # Both agent processes are gone: no orphan server is left behind.
    pids = [int(p) for p in re.findall(r"started the \w+ agent process \(pid (\d+)\)", out)]
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def save_task(db: Path, task_id: str, versions: list[int]) -> dict[int, str]:
    """Snapshots as the demo's agents write them; returns version -> snapshot id."""
    demo = load_demo()
    ids: dict[int, str] = {}
    with asap_native.SQLiteSnapshotStore(db) as store:
        for v in versions:
            ids[v] = f"snap_{v}"
            store.save(
                asap_native.StateSnapshot(
                    id=ids[v],
                    task_id=task_id,
                    version=v,
                    data={
                        "step": v,
                        "partial_sum": demo.expected_partial_sum(v),
                        "status": "working",
                        "agent": "primary",
                    },
                    checkpoint=True,
                    created_at=datetime.now(timezone.utc),
                )
            )
    return ids


def committed(ids: dict[int, str], steps: list[int]) -> dict[int, dict[str, Any]]:
    demo = load_demo()
    return {s: {"snapshot_id": ids[s], "partial_sum": demo.expected_partial_sum(s)} for s in steps}


def failures(checks: list[Any]) -> list[str]:
    return [c.text for c in checks if not c.ok]


def test_checker_rejects_a_missing_version(tmp_path: Path) -> None:
    demo = load_demo()
    db = tmp_path / "state.db"
    ids = save_task(db, "t1", [1, 2, 4])
    run = demo.RunRecord(task_id="t1", total_steps=4, primary_committed=committed(ids, [1, 2, 4]))
    failed = failures(demo.check_run(db, run))
    assert any("missing [3]" in text for text in failed), failed


def test_checker_rejects_a_changed_committed_snapshot(tmp_path: Path) -> None:
    demo = load_demo()
    db = tmp_path / "state.db"
    ids = save_task(db, "t1", [1, 2, 3])
    reported = committed(ids, [1, 2, 3])
    reported[2] = {"snapshot_id": "snap_other", "partial_sum": reported[2]["partial_sum"]}
    run = demo.RunRecord(task_id="t1", total_steps=3, primary_committed=reported)
    failed = failures(demo.check_run(db, run))
    assert any(
        "primary: reported committed steps missing or changed" in t and "[2]" in t for t in failed
    ), failed
