"""make demo-pg: the failover demo with the agents sharing PostgreSQL instead of a file."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _postgres import PgSchema, needs_postgres_build

DEMO = Path(__file__).resolve().parent.parent / "examples" / "failover_demo.py"


@needs_postgres_build
def test_failover_demo_on_postgresql(pg: PgSchema) -> None:
    for name in ("asap", "uvicorn", "httpx"):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"{name} is not installed")
    result = subprocess.run(
        [sys.executable, str(DEMO), "--backend", "postgresql"],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
        env=dict(os.environ, ASAP_STORAGE_URL=pg.dsn),
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "one snapshot per step, in PostgreSQL (host=" in out
    assert "PASS: no committed snapshot was lost" in out
    assert "FAIL" not in out
    assert pg.sql("SELECT count(*) FROM snapshots") == "24"
