"""The whole server (issue 10): a real asap-protocol server under uvicorn on 127.0.0.1, with
asap's SQLite stores, with ``install()``, and with stores that do nothing (the ceiling).

The server is asap's ``create_app`` (``tests_py/_asap_server.saving_app``, asap's middleware,
limits and registry as shipped, the rate limit lifted) whose ``task.request`` handler is a
coroutine that awaits ``save_async`` of a 1 KB snapshot in the app's snapshot store; asap's
registry then records the task's usage in the metering store (``record_task_usage``). It runs
in a process of its own (``python bench/bench_server.py --serve MODE``), one uvicorn worker,
so its CPU time is its own. Modes:

- ``asap``: asap-protocol's ``SQLiteSnapshotStore`` and ``SQLiteMeteringStore`` on one file;
- ``native``: the same, built after ``asap_native.integration.install()``;
- ``no-op store``: a snapshot store and a metering store whose methods return at once: the
  rest of asap's stack alone, the most any store could give.

The load generator (this process) keeps ``CLIENTS`` HTTP/1.1 keep-alive connections busy, each
sending its next prepared JSON-RPC ``asap.send`` request as soon as the previous answer is in,
until a fixed number of requests is answered; every answer must be a 200 carrying a JSON-RPC
result, and afterwards the database must hold one snapshot and one usage event per request.
Figures per run: requests/s (answered / wall time), latency percentiles (send to full answer),
server CPU per request (``/proc/<pid>/stat`` user+system of the server process). Modes run in
a shuffled order in each round; rates are medians over rounds, latencies pool all runs.

Then, when ``py-spy`` is installed (``make bench`` installs it), one more run of the native
server under ``py-spy record`` shows where its CPU goes.

Run through ``bench/run.py`` (``make bench``) or directly: ``python bench/bench_server.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: the repo root makes the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

ROOT = Path(__file__).resolve().parents[1]

TITLE = "The whole asap-protocol server under load (uvicorn, 127.0.0.1)"
ASAP = "asap"
NATIVE = "native"
NOOP = "no-op store"
MODES = (ASAP, NATIVE, NOOP)
CLIENTS = 64
DATA_BYTES = 1024
STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 120.0

# Requests per run, rounds, untimed warm-up requests per run, requests of the profiled run.
# Sized for the module to take about two minutes on a 2-core VM (four on a loaded one).
PLANS: dict[str, dict[str, Any]] = {
    "full": {"requests": 1000, "rounds": 3, "warmup": 2 * CLIENTS, "profile": 1500},
    "quick": {"requests": 96, "rounds": 1, "warmup": 16, "profile": 0},
}


# ---------------------------------------------------------------- the server process


class NoopSnapshotStore:
    """A snapshot store that keeps nothing: asap's SnapshotStore protocol, returning at once."""

    def save(self, snapshot: Any) -> None:
        pass

    async def save_async(self, snapshot: Any) -> None:
        pass

    def get(self, task_id: str, version: int | None = None) -> None:
        return None

    def list_versions(self, task_id: str) -> list[int]:
        return []

    def delete(self, task_id: str, version: int | None = None) -> bool:
        return False


class NoopMeteringStore:
    """A metering store that keeps nothing: asap's MeteringStore protocol, returning at once."""

    async def record(self, event: Any) -> None:
        pass

    async def query(self, agent_id: str, start: Any, end: Any) -> list[Any]:
        return []

    async def aggregate(self, agent_id: str, period: str) -> Any:
        from asap.state.metering import UsageAggregate

        return UsageAggregate(agent_id=agent_id, period=period)


def build_app(mode: str, db: Path) -> Any:
    """asap's app for ``mode``, its stores on ``db``."""
    if mode == NATIVE:
        from asap_native import integration

        integration.install()
    from tests_py._asap_server import saving_app

    if mode == NOOP:
        stores: dict[str, Any] = {
            "snapshot_store": NoopSnapshotStore(),
            "metering_store": NoopMeteringStore(),
        }
    else:
        import asap.state.stores as asap_stores  # after install(): the native classes

        stores = {
            "snapshot_store": asap_stores.SQLiteSnapshotStore(db),
            "metering_store": asap_stores.SQLiteMeteringStore(db),
        }
    return saving_app(awaited=True, **stores)


def serve(mode: str, db: Path, ready: Path) -> None:
    """Serves ``mode`` on a free 127.0.0.1 port until SIGTERM; writes ``pid port`` to
    ``ready`` when up."""
    import socket

    import uvicorn

    app = build_app(mode, db)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", backlog=4 * CLIENTS
    )
    server = uvicorn.Server(config)

    async def announce_when_started() -> None:
        while not server.started:
            await asyncio.sleep(0.01)
        partial = ready.with_suffix(".partial")
        partial.write_text(f"{os.getpid()} {sock.getsockname()[1]}")
        partial.replace(ready)

    async def main() -> None:
        announcer = asyncio.ensure_future(announce_when_started())
        await server.serve(sockets=[sock])
        announcer.cancel()

    asyncio.run(main())


# ---------------------------------------------------------------- the load generator


def request_bodies(count: int, prefix: str) -> list[bytes]:
    """``count`` JSON-RPC task.request bodies: task ``prefix-k`` for client k, steps 1, 2, ..."""
    from bench.bench_stores import make_state
    from tests_py._asap_server import rpc_body, task_envelope

    data = make_state(DATA_BYTES)
    usage = {"tokens_in": 120, "tokens_out": 80, "api_calls": 1}
    bodies = []
    for n in range(count):
        task_id, step = f"{prefix}-{n % CLIENTS}", n // CLIENTS + 1
        bodies.append(rpc_body(task_envelope(task_id, step, data, usage), f"{prefix}-{n}"))
    return bodies


def http_request(body: bytes) -> bytes:
    head = (
        "POST /asap HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 answer (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunks.append(await reader.readexactly(size + 2))
            if size == 0:
                return status, b"".join(chunks)
            chunks[-1] = chunks[-1][:-2]
    raise ValueError(f"an answer without a length: {head!r}")


def answer_error(status: int, body: bytes) -> str | None:
    """None for a 200 carrying a JSON-RPC result; else what was wrong."""
    if status != 200:
        return f"HTTP {status}"
    try:
        answer = json.loads(body)
    except ValueError:
        return "not JSON"
    if "result" not in answer:
        return str(answer.get("error", {}).get("message", "no result"))[:120]
    return None


@dataclass
class Load:
    seconds: float
    latencies_s: list[float]
    errors: Counter[str]


async def drive(port: int, requests: list[bytes], clients: int = CLIENTS) -> Load:
    """Sends every request, ``clients`` at a time, each client on its own keep-alive
    connection; returns the wall time, every latency and the errors by kind."""
    pending: Iterator[bytes] = iter(requests)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    clock = time.perf_counter

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in pending:
                started = clock()
                writer.write(request)
                status, body = await _read_answer(reader)
                latencies.append(clock() - started)
                error = answer_error(status, body)
                if error:
                    errors[error] += 1
        finally:
            writer.close()

    started = clock()
    await asyncio.wait_for(
        asyncio.gather(*(client() for _ in range(clients))), timeout=REQUEST_TIMEOUT
    )
    return Load(clock() - started, latencies, errors)


# ---------------------------------------------------------------- one run


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _runnable_seconds(pid: int) -> float | None:
    """Seconds the main thread (the event loop) of ``pid`` was runnable but waiting for a CPU
    (other processes on the machine); None where /proc/<pid>/schedstat is missing."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class ServerProcess:
    """``bench_server.py --serve MODE`` in a child process (``wrap``: a command in front), its
    output (asap's logs, as shipped) in ``db``'s folder."""

    def __init__(self, mode: str, db: Path, wrap: list[str] | None = None) -> None:
        ready = db.with_suffix(".ready")
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", mode]
        command += ["--db", str(db), "--ready", str(ready)]
        with open(db.with_suffix(".log"), "ab") as log:
            self.process = subprocess.Popen(
                [*(wrap or []), *command], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not ready.is_file():
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}) at startup")
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"the server did not start in {STARTUP_TIMEOUT} s")
            time.sleep(0.02)
        self.pid, self.port = (int(word) for word in ready.read_text().split())

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RuntimeError("the server did not stop") from None


@dataclass
class RunResult:
    requests: int
    seconds: float
    latencies_s: list[float]
    errors: Counter[str]
    server_cpu_s: float
    client_cpu_s: float
    server_waited_s: float | None


def rows_of(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("snapshots", "usage_events")
        }
    finally:
        conn.close()


def one_run(mode: str, tmp: Path, label: str, plan: dict[str, Any]) -> RunResult:
    db = tmp / f"{label}.db"
    warmup = request_bodies(plan["warmup"], f"warm-{label}")
    timed = request_bodies(plan["requests"], f"load-{label}")
    server = ServerProcess(mode, db)
    try:
        asyncio.run(drive(server.port, [http_request(body) for body in warmup]))
        requests = [http_request(body) for body in timed]
        waited_before = _runnable_seconds(server.pid)
        cpu_before, client_before = _cpu_seconds(server.pid), time.process_time()
        load = asyncio.run(drive(server.port, requests))
        server_cpu = _cpu_seconds(server.pid) - cpu_before
        client_cpu = time.process_time() - client_before
        waited_after = _runnable_seconds(server.pid)
        waited = None
        if waited_before is not None and waited_after is not None:
            waited = waited_after - waited_before
    finally:
        server.stop()
    if mode != NOOP and not load.errors:
        saved = rows_of(db)
        expected = len(warmup) + len(timed)
        if saved != {"snapshots": expected, "usage_events": expected}:
            raise AssertionError(f"{mode}: {saved} rows after {expected} requests")
    for path in tmp.glob(f"{label}.*"):
        path.unlink()
    return RunResult(
        len(timed), load.seconds, load.latencies_s, load.errors, server_cpu, client_cpu, waited
    )


# ---------------------------------------------------------------- the profile


# Layers of the server, by the folder of a frame's file (py-spy runs with --full-filenames):
# the first layer one of whose folders is in the path.
LAYERS = (
    (
        "store (asap_native, asap's stores, aiosqlite, sqlite3)",
        ("asap_native", "aiosqlite", "sqlite3", "asap/state/stores", "asap/economics"),
    ),
    ("OpenTelemetry", ("opentelemetry",)),
    ("logging (structlog, logging)", ("structlog", "logging")),
    ("rate limiting (limits)", ("limits",)),
    ("pydantic", ("pydantic", "pydantic_core")),
    ("Starlette / FastAPI", ("starlette", "fastapi", "anyio")),
    ("uvicorn / h11 / httptools", ("uvicorn", "h11", "httptools")),
    ("asyncio", ("asyncio",)),
    ("json", ("json",)),
    ("asap-protocol, rest", ("asap",)),
)


def _frame_file(frame: str) -> str:
    """The file of a py-spy raw frame ``function (file:line)``."""
    inside = frame.rpartition(" (")[2]
    return inside.rpartition(":")[0].replace("\\", "/")


def layer_of(frame: str) -> str:
    where = _frame_file(frame)
    for layer, needles in LAYERS:
        if any(f"/{needle}/" in where for needle in needles):
            return layer
    return "other (Python runtime, C calls)"


# Parts of the event loop's work: a sample counts for a part when one of its frames contains
# one of the part's needles (py-spy frames read "function (file:line)").
PARTS = {
    "asap's JSON-RPC endpoint (handle_asap_message), all it calls included": (
        "handle_asap_message",
    ),
    "the task handler and the usage recording (HandlerRegistry.dispatch_async)": (
        "HandlerRegistry.dispatch_async",
    ),
    "store code (asap_native, asap's stores, aiosqlite)": (
        "/asap_native/",
        "/asap/state/stores/",
        "/aiosqlite/",
    ),
    "logging (structlog, logging)": ("/structlog/", "/logging/"),
    "OpenTelemetry": ("/opentelemetry/",),
    "rate limiting (asap's ASAPRateLimiter.check)": ("ASAPRateLimiter.check",),
}
OUTSIDE_ENDPOINT = "outside the endpoint: uvicorn, the middleware layers, the event loop"
# The serving event loop; samples without it are the server's startup and idle threads.
LOOP_FRAME = "BaseEventLoop.run_forever"


def read_profile(path: Path) -> dict[str, Any]:
    """The event loop's samples in py-spy's raw (collapsed) output: self samples by layer
    (innermost frame) and inclusive samples of each of ``PARTS``."""
    by_layer: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    endpoint = next(iter(PARTS))
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if not count_text.isdigit() or not any(LOOP_FRAME in frame for frame in frames):
            continue
        count = int(count_text)
        total += count
        by_layer[layer_of(frames[-1])] += count
        for part, needles in PARTS.items():
            if any(needle in frame for frame in frames for needle in needles):
                inclusive[part] += count
    inclusive[OUTSIDE_ENDPOINT] = total - inclusive[endpoint]
    return {"samples": total, "self_by_layer": dict(by_layer), "inclusive": dict(inclusive)}


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.is_file() else shutil.which("py-spy")


def profile_native(tmp: Path, requests: int) -> dict[str, Any] | None:
    """One run of the native server under py-spy; None without py-spy or when it fails."""
    spy = py_spy()
    if spy is None or requests <= 0:
        return None
    out = tmp / "profile.txt"
    db = tmp / "profile.db"
    wrap = [spy, "record", "--format", "raw", "--rate", "200", "--full-filenames"]
    wrap += ["--output", str(out), "--"]
    server = ServerProcess(NATIVE, db, wrap=wrap)
    try:
        asyncio.run(drive(server.port, [http_request(b) for b in request_bodies(requests, "p")]))
    finally:
        server.stop()
    if not out.is_file():
        return None
    return read_profile(out)


# ---------------------------------------------------------------- the benchmark


def summarise(runs: list[RunResult]) -> dict[str, Any]:
    latencies = [x for run in runs for x in run.latencies_s]
    errors: Counter[str] = Counter()
    for run in runs:
        errors.update(run.errors)
    waiting = [r.server_waited_s / r.seconds for r in runs if r.server_waited_s is not None]
    return {
        "requests_per_s": statistics.median(run.requests / run.seconds for run in runs),
        "requests_per_s_runs": [run.requests / run.seconds for run in runs],
        "p50_ms": common.percentile(latencies, 50) * 1000,
        "p99_ms": common.percentile(latencies, 99) * 1000,
        "server_cpu_ms_per_request": statistics.median(
            run.server_cpu_s / run.requests * 1000 for run in runs
        ),
        "server_busy": statistics.median(run.server_cpu_s / run.seconds for run in runs),
        "client_cpu_ms_per_request": statistics.median(
            run.client_cpu_s / run.requests * 1000 for run in runs
        ),
        "server_waiting": statistics.median(waiting) if len(waiting) == len(runs) else None,
        "requests": sum(run.requests for run in runs),
        "errors": dict(errors),
    }


def measure(plan: dict[str, Any], tmp: Path, report: common.Progress) -> dict[str, Any]:
    runs: dict[str, list[RunResult]] = {mode: [] for mode in MODES}
    rng = random.Random(10)
    steps = plan["rounds"] * len(MODES) + (1 if plan["profile"] else 0)
    done = 0
    for r in range(plan["rounds"]):
        order = list(MODES)
        rng.shuffle(order)
        for mode in order:
            report(done / steps, f"round {r + 1}/{plan['rounds']}: {mode}")
            runs[mode].append(one_run(mode, tmp, f"{r}-{mode.replace(' ', '-')}", plan))
            done += 1
    report(done / steps, "profiling the native server (py-spy)")
    profile = profile_native(tmp, plan["profile"])
    report(1.0, "done")
    return {
        "modes": {mode: summarise(runs[mode]) for mode in MODES},
        "profile": profile,
        "plan": plan,
        "clients": CLIENTS,
    }


def _checks(figures: dict[str, Any]) -> list[common.Check]:
    modes = figures["modes"]
    native, asap, noop = modes[NATIVE], modes[ASAP], modes[NOOP]
    clean = not native["errors"]
    return [
        common.Check(
            "requests/s: native / asap",
            native["requests_per_s"] / asap["requests_per_s"],
            "(info)",
            None,
        ),
        common.Check(
            "p99 latency: asap / native", asap["p99_ms"] / native["p99_ms"], "(info)", None
        ),
        common.Check(
            "server CPU per request: asap / native",
            asap["server_cpu_ms_per_request"] / native["server_cpu_ms_per_request"],
            "(info)",
            None,
        ),
        common.Check(
            "requests/s: native / no-op store",
            native["requests_per_s"] / noop["requests_per_s"],
            "(info)",
            None,
        ),
        common.Check(
            "failed requests, native server",
            float(sum(native["errors"].values())),
            "< 1",
            clean,
            unit="requests",
        ),
    ]


def _finding(figures: dict[str, Any]) -> str:
    """What limits the native server, in words, from the figures and the profile."""
    modes, profile = figures["modes"], figures["profile"]
    noop_cpu = modes[NOOP]["server_cpu_ms_per_request"]
    native_cpu = modes[NATIVE]["server_cpu_ms_per_request"]
    asap_cpu = modes[ASAP]["server_cpu_ms_per_request"]
    share = {part: count / profile["samples"] for part, count in profile["inclusive"].items()}
    parts = list(PARTS)
    return (
        f"**What limits it.** One event-loop thread runs all of asap's Python per request, and "
        f"asap's stack costs {noop_cpu:.2f} ms of CPU per request with stores that do nothing "
        f"(at most about {1000 / noop_cpu:.0f} requests/s per worker process and core). After "
        f"`install()` a request costs {native_cpu:.2f} ms, {native_cpu - noop_cpu:.2f} ms more "
        f"than with no store; with asap's own stores {asap_cpu:.2f} ms, "
        f"{asap_cpu - noop_cpu:.2f} ms more. Of the native server loop's samples, "
        f"{share.get(OUTSIDE_ENDPOINT, 0):.0%} fall outside "
        f"asap's JSON-RPC endpoint (uvicorn, asap's Starlette `BaseHTTPMiddleware` layers, "
        f"OpenTelemetry's middleware, streaming the response back through them), "
        f"{share.get(parts[3], 0):.0%} in logging (structlog renders every request's log "
        f"lines), {share.get(parts[4], 0):.0%} in OpenTelemetry, "
        f"{share.get(parts[5], 0):.0%} in asap's rate limiter, and "
        f"{share.get(parts[2], 0):.0%} in store code. On a shared machine requests/s and "
        f"latency also follow the other processes (see *runnable, not running*); CPU per "
        f"request does not."
    )


def _markdown(figures: dict[str, Any], checks: list[common.Check], quick: bool) -> str:
    modes, plan = figures["modes"], figures["plan"]
    lines = [
        f"asap's `create_app` (its middleware, limits, OpenTelemetry and logging as shipped; the "
        f"rate limit lifted) under uvicorn, one worker process on 127.0.0.1. Each request is a "
        f"JSON-RPC `task.request` whose async handler awaits `save_async` of a {DATA_BYTES} B "
        f"snapshot; asap's registry then records the usage event. {figures['clients']} "
        f"clients on keep-alive connections, {plan['requests']:,} requests per run after "
        f"{plan['warmup']} untimed ones, {plan['rounds']} rounds (modes shuffled in each); "
        "requests/s is the median over runs, latency percentiles pool every request. Server "
        "CPU is the server process's user + system time per request; the load generator's "
        "own CPU is shown too (it shares the machine's cores), and the share of wall time the "
        "server's event-loop thread was runnable but waiting for a CPU (other processes).",
        "",
        "| stores | requests/s | p50 | p99 | server CPU / request | server CPU busy | "
        "server loop runnable, not running | load generator CPU / request | failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    describe = {
        ASAP: "asap-protocol's SQLite stores",
        NATIVE: "after `asap_native.integration.install()`",
        NOOP: "no-op stores (the ceiling)",
    }
    for mode in MODES:
        m = modes[mode]
        failed = sum(m["errors"].values())
        waiting = "n/a" if m["server_waiting"] is None else f"{m['server_waiting']:.0%}"
        lines.append(
            f"| {describe[mode]} | {m['requests_per_s']:,.0f} | {m['p50_ms']:.1f} ms | "
            f"{m['p99_ms']:.1f} ms | {m['server_cpu_ms_per_request']:.2f} ms | "
            f"{m['server_busy']:.0%} | {waiting} | {m['client_cpu_ms_per_request']:.2f} ms | "
            f"{failed} of {m['requests']:,} |"
        )
    for mode in MODES:
        for error, count in modes[mode]["errors"].items():
            lines.append(f"\n{mode}: {count} answered with: {error}")
    asap, native, noop = modes[ASAP], modes[NATIVE], modes[NOOP]
    store_native = native["server_cpu_ms_per_request"] - noop["server_cpu_ms_per_request"]
    store_asap = asap["server_cpu_ms_per_request"] - noop["server_cpu_ms_per_request"]
    lines += [
        "",
        f"The stores' share of the server CPU per request (mode minus the no-op ceiling): "
        f"asap's {store_asap:.2f} ms, native {store_native:.2f} ms, of "
        f"{noop['server_cpu_ms_per_request']:.2f} ms that asap's stack spends with no store "
        f"at all. Native reaches {native['requests_per_s'] / noop['requests_per_s']:.0%} of "
        f"the no-op ceiling, {native['requests_per_s'] / asap['requests_per_s']:.1f}x asap's "
        "own stores.",
    ]
    profile = figures["profile"]
    if profile and profile["samples"]:
        total = profile["samples"]
        lines += [
            "",
            "### Where the native server's CPU goes (py-spy)",
            "",
            f"`py-spy record --format raw --rate 200 --full-filenames` on the native server over "
            f"{plan['profile']:,} requests: the {total:,} samples of its event-loop thread "
            "(startup left out; the native store's own threads are C++, not sampled, their "
            "CPU is in the table above). Self time: the layer of the innermost Python frame "
            "(time in C called from it counts there).",
            "",
            "| layer | share of samples |",
            "|---|---:|",
        ]
        for layer, count in sorted(profile["self_by_layer"].items(), key=lambda kv: -kv[1]):
            lines.append(f"| {layer} | {count / total:.1%} |")
        lines += ["", "| samples with this on the stack | share |", "|---|---:|"]
        for part in [*PARTS, OUTSIDE_ENDPOINT]:
            lines.append(f"| {part} | {profile['inclusive'].get(part, 0) / total:.1%} |")
        lines += ["", _finding(figures)]
    elif not quick:
        lines += ["", "No profile: py-spy is not installed (`pip install py-spy`)."]
    lines += ["", *common.targets_table(checks)]
    lines += [f"Load average before / after the module: {figures['load']}.", ""]
    return "\n".join(lines)


run = common.Benchmark("server", TITLE, PLANS, measure, _checks, _markdown)


if __name__ == "__main__":
    parser = common.script_parser(__doc__)
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ready", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.db, args.ready)
    else:
        common.print_result(run(progress=common.print_progress, quick=args.quick), args.json)
