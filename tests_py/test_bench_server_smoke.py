"""Smoke tests for bench/bench_repository.py and bench/bench_server.py: quick runs return
numbers and verdicts (no timing asserted), and the profile reader sorts frames into layers."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the bench package

from bench import bench_repository, bench_server


def _finite_positive(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_repository_quick_run_times_both_sides_and_opens_no_aiosqlite_after_install() -> None:
    result = bench_repository.run(quick=True)
    figures = result["figures"]
    for impl in bench_repository.IMPLEMENTATIONS:
        for op in bench_repository.OPS:
            assert _finite_positive(figures["median_us"][impl][op]), (impl, op)
            assert figures["p99_us"][impl][op] >= figures["median_us"][impl][op]
    connections = figures["aiosqlite_connections"]
    assert connections[bench_repository.NATIVE] == 0
    assert connections[bench_repository.ASAP] > 0  # the counter does see asap's connections
    checks = {check["name"]: check for check in result["checks"]}
    assert len(checks) == len(bench_repository.OPS) + 1
    assert checks["aiosqlite connections opened after install()"]["passed"] is True
    assert all(isinstance(check["passed"], bool) for check in checks.values())
    assert "Quick run" in result["markdown"] and "### Targets" in result["markdown"]


def test_counting_sees_every_aiosqlite_connection() -> None:
    import asyncio

    import aiosqlite

    async def open_two() -> None:
        for _ in range(2):
            async with aiosqlite.connect(":memory:"):
                pass

    with bench_repository.counting_aiosqlite_connections() as opened:
        asyncio.run(open_two())
    assert opened[0] == 2


@pytest.mark.skipif(sys.platform != "linux", reason="server CPU is read from /proc")
def test_server_quick_run_serves_every_request_in_every_mode() -> None:
    result = bench_server.run(quick=True)
    modes = result["figures"]["modes"]
    assert set(modes) == set(bench_server.MODES)
    for mode, figures in modes.items():
        assert figures["errors"] == {}, mode
        assert figures["requests"] == bench_server.PLANS["quick"]["requests"]
        for name in ("requests_per_s", "p50_ms", "server_cpu_ms_per_request"):
            assert _finite_positive(figures[name]), (mode, name)
        assert figures["p99_ms"] >= figures["p50_ms"]
    checks = {check["name"]: check for check in result["checks"]}
    assert checks["failed requests, native server"]["passed"] is True
    assert "no-op stores (the ceiling)" in result["markdown"]


def test_answer_error_accepts_only_a_json_rpc_result() -> None:
    assert bench_server.answer_error(200, b'{"jsonrpc": "2.0", "result": {}}') is None
    assert bench_server.answer_error(429, b"{}") == "HTTP 429"
    assert bench_server.answer_error(200, b"<html>") == "not JSON"
    error = b'{"jsonrpc": "2.0", "error": {"code": -32603, "message": "boom"}}'
    assert bench_server.answer_error(200, error) == "boom"


def test_profile_reads_the_event_loop_by_layer_and_part(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    lib, site = "/usr/lib/python3.13", "/venv/lib/python3.13/site-packages"
    loop = f"serve (/b/server.py:1);BaseEventLoop.run_forever ({lib}/asyncio/base_events.py:679)"
    endpoint = f"{loop};handle_asap_message ({site}/asap/transport/routes/jsonrpc.py:128)"
    raw.write_text(
        f"{endpoint};HandlerRegistry.dispatch_async ({site}/asap/transport/handlers.py:470);"
        f"save_async ({site}/asap_native/snapshot_store.py:10) 3\n"
        f"{loop};__call__ ({site}/starlette/middleware/base.py:1) 2\n"
        "_find_and_load (<frozen importlib._bootstrap>:1360) 5\n"  # startup: not the loop
        "not a sample line\n"
    )
    profile = bench_server.read_profile(raw)
    assert profile["samples"] == 5
    assert profile["self_by_layer"] == {bench_server.LAYERS[0][0]: 3, "Starlette / FastAPI": 2}
    parts = list(bench_server.PARTS)
    assert profile["inclusive"][parts[0]] == 3  # the endpoint
    assert profile["inclusive"][parts[1]] == 3  # the handler
    assert profile["inclusive"][parts[2]] == 3  # store code
    assert parts[3] not in profile["inclusive"]  # no logging sampled
    assert profile["inclusive"][bench_server.OUTSIDE_ENDPOINT] == 2


def test_report_states_what_limits_the_server() -> None:
    def mode(cpu_ms: float) -> dict[str, object]:
        return {
            "requests_per_s": 100.0,
            "p50_ms": 5.0,
            "p99_ms": 9.0,
            "server_cpu_ms_per_request": cpu_ms,
            "server_busy": 0.5,
            "server_waiting": None,
            "client_cpu_ms_per_request": 0.2,
            "requests": 10,
            "errors": {},
        }

    profile = {
        "samples": 10,
        "self_by_layer": {"asyncio": 10},
        "inclusive": {bench_server.OUTSIDE_ENDPOINT: 6, list(bench_server.PARTS)[2]: 1},
    }
    figures = {
        "modes": {bench_server.ASAP: mode(9.0), bench_server.NATIVE: mode(5.5)}
        | {bench_server.NOOP: mode(5.0)},
        "profile": profile,
        "plan": bench_server.PLANS["full"],
        "clients": bench_server.CLIENTS,
        "load": "n/a",
    }
    markdown = bench_server._markdown(figures, bench_server._checks(figures), quick=False)
    assert "| asyncio | 100.0% |" in markdown
    finding = markdown.split("**What limits it.**")[1]
    assert "5.00 ms of CPU per request with stores that do nothing" in finding
    assert "a request costs 5.50 ms, 0.50 ms more" in finding
    assert "9.00 ms, 4.00 ms more" in finding
    assert "60% fall outside" in finding and "10% in store code" in finding
