"""Smoke test for bench/bench_postgres.py: a quick run on the test session's cluster measures
asap_native and builds the report (no timing asserted; peers not installed are "not measured")."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from _postgres import Cluster

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the bench package

import asap_native  # noqa: E402
from bench import bench_postgres  # noqa: E402

pytestmark = pytest.mark.skipif(
    not asap_native.postgres_available, reason="built without PostgreSQL"
)


def test_quick_run_measures_every_workload_and_checks_every_target(pg_cluster: Cluster) -> None:
    out = bench_postgres.run(quick=True, dsn=pg_cluster.url())

    medians = out["figures"]["medians_us"]
    for workload in ("async_save", "async_get", "sync_save", "sync_get"):
        native = medians[workload][bench_postgres.NATIVE]
        assert native is not None and math.isfinite(native) and native > 0, workload
    assert [check["name"] for check in out["checks"]] == [
        "PostgreSQL 64-way awaited save vs asyncpg",
        "PostgreSQL sync save vs psycopg",
        "PostgreSQL sync get vs psycopg",
    ]
    assert "| 64-way awaited save |" in out["markdown"]
    assert out["name"] == "postgres"
