"""Failover demo (``make demo``): a primary ASAP agent is SIGKILLed mid-task, a backup finishes.

1. A primary agent process (``failover_agent.py``: asap-protocol's ``create_app()`` with
   asap_native's SQLite snapshot and metering stores on one local file, behind
   ``DecompressionMiddleware``, served by uvicorn) gets a gzip-compressed ``task.request`` and
   works through the task: a snapshot per step, plus a usage event, then "step k committed".
2. Once several steps are reported committed, this coordinator kills it with SIGKILL.
3. A backup agent process opens the same file; the coordinator sends it ``state_restore`` for
   the latest snapshot and a brotli-compressed ``task.request`` to resume (both through asap's
   ``ASAPClient``). The backup continues from the next step and finishes.
4. The coordinator checks that no committed snapshot was lost: every step reported committed
   is in the store with its data, versions are contiguous 1..N, the final state says done, and
   the usage events are there.

Exit status: 0 when every check held, 1 when a check failed, 2 when the demo could not run.
Agent logs go to files in a temporary directory; their tails are shown on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gzip
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
AGENT_SCRIPT = HERE / "failover_agent.py"
sys.path.insert(0, str(HERE))

from failover_agent import (  # noqa: E402
    AGENT_IDS,
    POSTGRES_URL_ENV,
    SKILL,
    expected_partial_sum,
    open_metering_store,
    open_snapshot_store,
    postgres_url,
    step_tokens,
)

COORDINATOR_ID = "urn:asap:agent:failover-coordinator"
HEALTH_PATH = "/.well-known/asap/health"
READY_TIMEOUT = 60.0  # importing asap and starting uvicorn, on a busy machine
TASK_TIMEOUT = 45.0  # for each agent's share of the task
STOP_TIMEOUT = 10.0


class DemoError(Exception):
    """The demo could not run to the point of checking (exit status 2)."""


# ---- timeline ---------------------------------------------------------------------------------


class Timeline:
    """Prints "[  1.234s] who   what" lines, relative to the demo's start."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def say(self, who: str, text: str, at: float | None = None) -> None:
        elapsed = (time.monotonic() if at is None else at) - self.t0
        print(f"[{elapsed:7.3f}s] {who:<11} {text}", flush=True)


# ---- agent processes --------------------------------------------------------------------------


class Agent:
    """An agent process, its progress file (JSON lines) and its log file."""

    def __init__(self, role: str, folder: Path, db_path: Path, step_ms: float) -> None:
        self.role = role
        self.progress_path = folder / f"{role}.progress.jsonl"
        self.log_path = folder / f"{role}.log"
        self.events: list[dict[str, Any]] = []
        self.pending: collections.deque[dict[str, Any]] = collections.deque()
        self.port: int | None = None
        self._offset = 0
        self._partial = b""
        env = dict(os.environ, ASAP_LOG_FORMAT="json", PYTHONUNBUFFERED="1")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    str(AGENT_SCRIPT),
                    "--role",
                    role,
                    "--db",
                    str(db_path),
                    "--progress",
                    str(self.progress_path),
                    "--step-ms",
                    str(step_ms),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def poll(self) -> None:
        """Queues the complete progress lines written since the last call."""
        try:
            with open(self.progress_path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        new = [json.loads(line) for line in lines if line.strip()]
        self.events.extend(new)
        self.pending.extend(new)

    def drain(self) -> list[dict[str, Any]]:
        """Every queued event not handled yet (polls first)."""
        self.poll()
        events = list(self.pending)
        self.pending.clear()
        return events

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int | None:
        """SIGTERM (graceful), then SIGKILL if it does not exit in time; returns the status."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        return self.process.returncode

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def wait_for(
    agent: Agent,
    timeline: Timeline,
    done: Callable[[dict[str, Any]], bool],
    timeout: float,
    what: str,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Prints the agent's events as they come until one satisfies ``done``; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        agent.poll()
        while agent.pending:  # one at a time: events after ``done`` stay queued
            event = agent.pending.popleft()
            describe(agent.role, event, timeline)
            if on_event is not None:
                on_event(event)
            if event["event"] == "error":
                raise DemoError(f"{agent.role} reported an error: {event['message']}")
            if done(event):
                return event
        if not agent.alive():
            raise DemoError(
                f"{agent.role} exited (status {agent.process.returncode}) while waiting for {what}"
            )
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f}s waiting for {what} from {agent.role}")
        time.sleep(0.005)


def describe(role: str, event: dict[str, Any], timeline: Timeline) -> None:
    kind, at = event["event"], event.get("t")
    if kind == "listening":
        text = f"listening on 127.0.0.1:{event['port']} (pid {event['pid']})"
    elif kind == "started":
        text = f"task started at step {event['first_step']} of {event['total_steps']}"
    elif kind == "committed":
        text = (
            f"step {event['step']} committed (snapshot v{event['version']}, "
            f"partial_sum={event['partial_sum']})"
        )
    elif kind == "restored":
        text = (
            f"restored v{event['version']} (step {event['step']}, "
            f"partial_sum={event['partial_sum']}, saved by {event['saved_by']})"
        )
    elif kind == "finished":
        text = f"finished: step {event['step']}, result partial_sum={event['partial_sum']}"
    elif kind == "stopped":
        text = "stopped cleanly, stores closed"
    elif kind == "error":
        text = f"ERROR {event['message']}"
    else:
        text = json.dumps(event)
    timeline.say(role, text, at)


def wait_healthy(agent: Agent, timeline: Timeline) -> None:
    listening = wait_for(
        agent, timeline, lambda e: e["event"] == "listening", READY_TIMEOUT, "startup"
    )
    agent.port = listening["port"]
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            if httpx.get(agent.base_url + HEALTH_PATH, timeout=2.0).status_code == 200:
                timeline.say(agent.role, f"healthy (GET {HEALTH_PATH} -> 200)")
                return
        except httpx.HTTPError:
            pass
        if not agent.alive():
            raise DemoError(f"{agent.role} exited (status {agent.process.returncode}) at startup")
        if time.monotonic() > deadline:
            raise DemoError(f"{agent.role} did not become healthy in {READY_TIMEOUT:.0f}s")
        time.sleep(0.05)


# ---- requests ---------------------------------------------------------------------------------


def task_request(recipient: str, task_id: str, total_steps: int, resume: bool) -> Any:
    from asap.models.envelope import Envelope
    from asap.models.ids import generate_id
    from asap.models.payloads import TaskRequest

    return Envelope(
        asap_version="0.1",
        sender=COORDINATOR_ID,
        recipient=recipient,
        payload_type="task.request",
        payload=TaskRequest(
            conversation_id=generate_id(),
            skill_id=SKILL,
            input={"task_id": task_id, "total_steps": total_steps, "resume": resume},
        ).model_dump(),
        trace_id=generate_id(),
    )


def post_gzip(base_url: str, envelope: Any) -> tuple[dict[str, Any], int, int]:
    """JSON-RPC asap.send with a gzip body, posted with httpx; (result envelope, sizes)."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "asap.send",
            "params": {"envelope": envelope.model_dump(mode="json")},
            "id": envelope.id,
        }
    ).encode("utf-8")
    packed = gzip.compress(body)
    response = httpx.post(
        base_url + "/asap",
        content=packed,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
        timeout=15.0,
    )
    if response.status_code != 200 or "result" not in response.json():
        raise DemoError(f"task.request failed: HTTP {response.status_code} {response.text[:300]}")
    return response.json()["result"]["envelope"], len(body), len(packed)


def probe_middleware(base_url: str) -> str:
    """A corrupt gzip body must be refused by DecompressionMiddleware itself (400)."""
    response = httpx.post(
        base_url + "/asap",
        content=gzip.compress(b'{"jsonrpc": "2.0"}')[:12] + b"\xff" * 8,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
        timeout=15.0,
    )
    detail = response.json().get("detail", "") if response.status_code == 400 else ""
    if not detail.startswith("Invalid compressed data"):
        raise DemoError(
            f"corrupt gzip body: expected the middleware's 400, got {response.status_code} "
            f"{response.text[:200]}"
        )
    return detail


class RecordingTransport(httpx.AsyncBaseTransport):
    """httpx transport wrapper noting each request's Content-Encoding and body size."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.sent: list[tuple[str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.sent.append(
                (request.headers.get("content-encoding", "identity"), len(request.content))
            )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def send_with_asap_client(
    base_url: str, envelope: Any, compress: bool
) -> tuple[Any, tuple[str, int]]:
    """Sends through asap's ASAPClient (threshold 0 when compressing: it then picks brotli)."""
    from asap.transport.client import ASAPClient

    recorder = RecordingTransport()
    async with ASAPClient(
        base_url,
        transport=recorder,
        compression=compress,
        compression_threshold=0,
        max_retries=1,
    ) as client:
        reply = await client.send(envelope)
    return reply, recorder.sent[-1] if recorder.sent else ("?", 0)


# ---- checks -----------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """What the agents reported: the facts the store is checked against."""

    task_id: str
    total_steps: int
    primary_committed: dict[int, dict[str, Any]] = field(default_factory=dict)
    backup_committed: dict[int, dict[str, Any]] = field(default_factory=dict)
    restored: dict[str, Any] | None = None
    finished: dict[str, Any] | None = None


@dataclass
class Check:
    ok: bool
    text: str


def check_run(db_path: Path, run: RunRecord) -> list[Check]:
    """Checks the shared store against what the agents reported. No exception on bad data."""
    checks: list[Check] = []
    n = run.total_steps
    with open_snapshot_store(db_path) as store:
        versions = store.list_versions(run.task_id)
        snapshots = {v: store.get(run.task_id, v) for v in versions}
        latest = store.get(run.task_id)

    want = list(range(1, n + 1))
    missing = sorted(set(want) - set(versions))
    extra = sorted(set(versions) - set(want))
    checks.append(
        Check(
            versions == want,
            f"versions are contiguous 1..{n}"
            if versions == want
            else f"versions are not contiguous 1..{n}: missing {missing}, unexpected {extra}",
        )
    )

    def data(v: int) -> dict[str, Any]:
        snapshot = snapshots.get(v)
        value = getattr(snapshot, "data", None)
        return value if isinstance(value, dict) else {}

    bad_data = [
        v
        for v, s in snapshots.items()
        if s is None
        or s.version != v
        or data(v).get("step") != v
        or data(v).get("partial_sum") != expected_partial_sum(v)
    ]
    checks.append(
        Check(
            not bad_data,
            "every snapshot's data is intact (step and partial_sum match, "
            f"{len(snapshots)} versions)"
            if not bad_data
            else f"snapshots with wrong data: versions {bad_data}",
        )
    )

    for role, committed in (("primary", run.primary_committed), ("backup", run.backup_committed)):
        lost = []
        for step, event in sorted(committed.items()):
            s = snapshots.get(step)
            if (
                s is None
                or s.id != event["snapshot_id"]
                or data(step).get("agent") != role
                or data(step).get("partial_sum") != event["partial_sum"]
            ):
                lost.append(step)
        steps = sorted(committed)
        first = 1 if role == "primary" else steps[0] if steps else 0
        gaps = sorted(set(range(first, steps[-1] + 1)) - set(steps)) if steps else []
        if not steps:
            text = f"{role} reported no committed step"
        elif lost:
            text = f"{role}: reported committed steps missing or changed in the store: {lost}"
        elif gaps:
            text = f"{role}: no committed report for steps {gaps}"
        else:
            text = (
                f"all {len(steps)} steps the {role} reported committed "
                f"({steps[0]}..{steps[-1]}) are in the store with their data"
            )
        checks.append(Check(bool(steps) and not lost and not gaps, text))

    primary_saved = [v for v in snapshots if data(v).get("agent") == "primary"]
    restored_v = run.restored["version"] if run.restored else None
    first_backup = min(run.backup_committed) if run.backup_committed else None
    resumed_ok = (
        restored_v is not None
        and primary_saved
        and restored_v == max(primary_saved)
        and restored_v >= max(run.primary_committed, default=0)
        and first_backup == restored_v + 1
    )
    checks.append(
        Check(
            bool(resumed_ok),
            f"the backup restored v{restored_v}, the primary's last snapshot, and resumed at step "
            f"{first_backup}"
            if resumed_ok
            else f"resume point wrong: restored v{restored_v}, primary's snapshots "
            f"{primary_saved[-3:]}, backup's first step {first_backup}",
        )
    )

    latest_data = latest.data if latest is not None and isinstance(latest.data, dict) else {}
    final_ok = (
        latest is not None
        and latest.version == n
        and latest_data.get("status") == "done"
        and latest_data.get("partial_sum") == expected_partial_sum(n)
        and run.finished is not None
        and run.finished.get("partial_sum") == expected_partial_sum(n)
    )
    checks.append(
        Check(
            final_ok,
            f"final state: v{n}, status done, partial_sum={expected_partial_sum(n)} (= sum of k*k)"
            if final_ok
            else f"final state wrong: {None if latest is None else (latest.version, latest.data)}, "
            f"finished event {run.finished}",
        )
    )

    checks.append(check_usage(db_path, run))
    return checks


def check_usage(db_path: Path, run: RunRecord) -> Check:
    """Each reported step has its usage event; asap recorded each task.request too."""
    start = datetime.now(timezone.utc) - timedelta(days=1)
    end = datetime.now(timezone.utc) + timedelta(days=1)
    problems, counts = [], []
    with open_metering_store(db_path) as metering:
        for role, committed in (
            ("primary", run.primary_committed),
            ("backup", run.backup_committed),
        ):
            events = [
                e
                for e in metering.query_sync(AGENT_IDS[role], start, end)
                if e.task_id == run.task_id
            ]
            per_step = {e.metrics.tokens_in for e in events if e.metrics.api_calls == 1}
            per_request = [e for e in events if e.metrics.api_calls == 0]
            absent = [s for s in committed if step_tokens(s)[0] not in per_step]
            if absent:
                problems.append(f"{role}: no usage event for steps {sorted(absent)}")
            if not per_request:
                problems.append(f"{role}: asap recorded no usage for its task.request")
            counts.append(f"{role} {len(per_step)} step + {len(per_request)} request events")
    if problems:
        return Check(False, "usage events missing: " + "; ".join(problems))
    return Check(True, "usage recorded: " + ", ".join(counts))


# ---- the demo ---------------------------------------------------------------------------------


def quiet_asap_logging(log_path: Path) -> None:
    """asap logs to stdout (and configures itself on first use): send it to a file instead."""
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from asap.observability.logging import configure_logging

    configure_logging(log_format="json", log_level="INFO", force=True)
    stream = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


def run_demo(folder: Path, steps: int, kill_after: int, step_ms: float) -> int:
    timeline = Timeline()
    db_path = folder / "failover.db"
    url = postgres_url()
    if url:
        import asap_native

        where = f"PostgreSQL ({asap_native._core.postgres_describe_dsn(url)})"
    else:
        where = str(db_path)
    print(f"asap_native failover demo: a task of {steps} steps, one snapshot per step, in {where}")
    quiet_asap_logging(folder / "coordinator.log")
    from asap.models.ids import generate_id

    task_id = f"task_{generate_id()}"
    run = RunRecord(task_id=task_id, total_steps=steps)
    agents: list[Agent] = []
    try:
        primary = Agent("primary", folder, db_path, step_ms)
        agents.append(primary)
        timeline.say(
            "coordinator", f"started the primary agent process (pid {primary.process.pid})"
        )
        wait_healthy(primary, timeline)

        detail = probe_middleware(primary.base_url)
        timeline.say(
            "coordinator",
            f"corrupt gzip body -> 400 from DecompressionMiddleware ({detail[:60]}...)",
        )

        sent_at = time.monotonic()
        reply, plain, packed = post_gzip(
            primary.base_url, task_request(AGENT_IDS["primary"], task_id, steps, resume=False)
        )
        status = reply["payload"]["status"]
        timeline.say(
            "coordinator",
            f"task.request -> primary (httpx, gzip {plain} -> {packed} "
            f"bytes): {task_id}, reply '{status}'",
            sent_at,
        )
        if status != "working":
            raise DemoError(f"primary refused the task: {reply['payload']}")

        def note_primary(event: dict[str, Any]) -> None:
            if event["event"] == "committed":
                run.primary_committed[event["step"]] = event
            if event["event"] == "finished":
                raise DemoError("the primary finished before it could be killed: use more --steps")

        wait_for(
            primary,
            timeline,
            lambda e: len(run.primary_committed) >= kill_after,
            TASK_TIMEOUT,
            f"{kill_after} committed steps",
            note_primary,
        )
        # Somewhere inside the next step: in its work, its snapshot write or its usage write.
        time.sleep(random.uniform(0.0, step_ms / 1000.0))
        os.kill(primary.process.pid, signal.SIGKILL)
        timeline.say("coordinator", f"SIGKILL -> primary (pid {primary.process.pid}), mid-task")
        try:
            primary.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired as error:
            raise DemoError("the primary did not die after SIGKILL") from error
        for event in primary.drain():  # lines written before the signal landed still count
            describe("primary", event, timeline)
            note_primary(event)
        if primary.process.returncode != -signal.SIGKILL:
            raise DemoError(f"primary exit status {primary.process.returncode}, not SIGKILL")
        timeline.say(
            "coordinator",
            f"primary is gone (exit status {primary.process.returncode}); "
            f"{describe_health(primary)}",
        )

        with open_snapshot_store(db_path) as store:
            latest = store.get(task_id)
            count = len(store.list_versions(task_id))
        if latest is None:
            raise DemoError("no snapshot of the task in the store after the kill")
        note = "" if latest.version in run.primary_committed else ", saved but not yet reported"
        timeline.say(
            "coordinator",
            f"shared store: {count} versions, latest v{latest.version} "
            f"(step {latest.data['step']}{note})",
        )

        backup = Agent("backup", folder, db_path, step_ms)
        agents.append(backup)
        timeline.say("coordinator", f"started the backup agent process (pid {backup.process.pid})")
        wait_healthy(backup, timeline)

        from asap.models.envelope import Envelope
        from asap.models.payloads import StateRestore

        restore = Envelope(
            asap_version="0.1",
            sender=COORDINATOR_ID,
            recipient=AGENT_IDS["backup"],
            payload_type="state_restore",
            payload=StateRestore(task_id=task_id, snapshot_id=latest.id).model_dump(),
            trace_id=generate_id(),
        )
        sent_at = time.monotonic()
        ack, _ = asyncio.run(send_with_asap_client(backup.base_url, restore, compress=False))
        timeline.say(
            "coordinator",
            f"state_restore v{latest.version} -> backup (ASAPClient): "
            f"ok={ack.payload_dict.get('ok')}",
            sent_at,
        )
        if ack.payload_dict.get("ok") is not True:
            raise DemoError(f"backup refused state_restore: {ack.payload_dict}")
        run.restored = wait_for(
            backup, timeline, lambda e: e["event"] == "restored", TASK_TIMEOUT, "the restore"
        )

        resume = task_request(AGENT_IDS["backup"], task_id, steps, resume=True)
        sent_at = time.monotonic()
        reply_env, (encoding, size) = asyncio.run(
            send_with_asap_client(backup.base_url, resume, compress=True)
        )
        payload = reply_env.payload_dict
        status = getattr(payload.get("status"), "value", payload.get("status"))
        timeline.say(
            "coordinator",
            f"task.request resume -> backup (ASAPClient, {encoding}, "
            f"{size} bytes): reply '{status}'",
            sent_at,
        )
        if encoding == "identity":
            raise DemoError("the resume request went out uncompressed")
        if status != "working":
            raise DemoError(f"backup refused to resume: {payload}")

        def note_backup(event: dict[str, Any]) -> None:
            if event["event"] == "committed":
                run.backup_committed[event["step"]] = event

        run.finished = wait_for(
            backup,
            timeline,
            lambda e: e["event"] == "finished",
            TASK_TIMEOUT,
            "the end of the task",
            note_backup,
        )
        timeline.say("coordinator", "SIGTERM -> backup (graceful stop)")
        status_code = backup.stop()
        for event in backup.drain():
            describe("backup", event, timeline)
        timeline.say("coordinator", f"backup exited with status {status_code}")
        if status_code != 0:
            raise DemoError(f"backup exit status {status_code} after SIGTERM")

        print("checks:")
        checks = check_run(db_path, run)
        for check in checks:
            print(f"  {'ok  ' if check.ok else 'FAIL'} {check.text}")
        if all(check.ok for check in checks):
            timeline.say("coordinator", "PASS: no committed snapshot was lost across the SIGKILL")
            return 0
        timeline.say("coordinator", "FAIL: the store does not match what the agents reported")
        show_logs(agents)
        return 1
    except DemoError as error:
        timeline.say("coordinator", f"ERROR: {error}")
        show_logs(agents)
        return 2
    finally:
        for agent in agents:
            agent.stop()


def describe_health(agent: Agent) -> str:
    try:
        code = httpx.get(agent.base_url + HEALTH_PATH, timeout=2.0).status_code
        return f"health check answered {code}"
    except httpx.HTTPError as error:
        return f"health check: {type(error).__name__} (down)"


def show_logs(agents: list[Agent]) -> None:
    for agent in agents:
        print(f"---- last lines of {agent.log_path} ----")
        print(agent.log_tail(), flush=True)


def start_cluster() -> Any:
    """A throwaway PostgreSQL cluster (tools/pg_cluster.py) for the agents to share."""
    sys.path.insert(0, str(HERE.parent / "tools"))
    try:
        from pg_cluster import Cluster
    finally:
        sys.path.pop(0)
    cluster = Cluster.start()
    print(f"started a throwaway PostgreSQL cluster in {cluster.folder} (port {cluster.port})")
    return cluster


def interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24, help="steps in the task (default 24)")
    parser.add_argument(
        "--kill-after",
        type=int,
        default=8,
        help="SIGKILL the primary once this many steps are committed (default 8)",
    )
    parser.add_argument(
        "--step-ms", type=float, default=40.0, help="simulated work per step, in ms (default 40)"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory (database, logs, progress files)",
    )
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="what the agents share: a SQLite file (default), or PostgreSQL: the server at "
        "ASAP_STORAGE_URL, else a throwaway cluster (tools/pg_cluster.py)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.kill_after < args.steps:
        parser.error("need 1 <= --kill-after < --steps")

    # SIGTERM/SIGHUP end the demo like Ctrl-C does, so the finally blocks stop the agents.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="asap_native_failover_"))
    cluster = None
    try:
        if args.backend == "postgresql":
            url = os.environ.get("ASAP_STORAGE_URL", "").strip()
            if not url:
                cluster = start_cluster()
                url = cluster.dsn()
            os.environ[POSTGRES_URL_ENV] = url  # the agents inherit it
        status = run_demo(folder, args.steps, args.kill_after, args.step_ms)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = 130
    finally:
        if cluster is not None:
            cluster.stop()
        if args.keep:
            print(f"kept {folder}")
        else:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    print(
        f"demo {'passed' if status == 0 else 'FAILED'} in {time.monotonic() - started:.1f}s "
        f"(exit status {status})"
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
