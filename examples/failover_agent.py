"""One ASAP agent process of the failover demo (the primary or the backup).

A real asap-protocol server: ``create_app()`` with asap_native's SQLite snapshot and metering
stores on a shared file, wrapped in ``DecompressionMiddleware`` and served by uvicorn on
127.0.0.1. It is started by ``examples/failover_demo.py``; run that, not this.

Skill ``failover_work``: a ``task.request`` starts (or, with ``resume``, continues) a task of
``total_steps`` steps, run by a background thread. Each step does its (simulated) work, saves a
snapshot whose version is the step and whose data carries the partial result, records a usage
event, and only then reports "committed" to the progress file. ``state_restore`` loads a
snapshot from the store so that a later ``task.request`` with ``resume`` continues from it.

The progress file gets one JSON object per line, written with a single ``write()`` on an
O_APPEND descriptor: a line is in the kernel once ``write()`` returns, so SIGKILL cannot lose
or tear a reported step. asap logs to stdout, which the demo sends to a log file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SKILL = "failover_work"
AGENT_IDS = {
    "primary": "urn:asap:agent:failover-primary",
    "backup": "urn:asap:agent:failover-backup",
}


def expected_partial_sum(step: int) -> int:
    """The task's partial result after ``step`` steps: the sum of k*k for k in 1..step."""
    return step * (step + 1) * (2 * step + 1) // 6


def step_tokens(step: int) -> tuple[int, int]:
    """Simulated (tokens_in, tokens_out) of one step, distinct per step so checks can match them."""
    return 100 + 10 * step, 20 + step


class Progress:
    """Appends JSON lines to the progress file, each in one write() call."""

    def __init__(self, path: Path, role: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._role = role
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        record = {"t": time.monotonic(), "agent": self._role, "event": event, **fields}
        line = (json.dumps(record) + "\n").encode("utf-8")
        with self._lock:
            os.write(self._fd, line)


class TaskRunner:
    """Runs the steps of one task on a background thread, a snapshot per step."""

    def __init__(
        self,
        role: str,
        agent_id: str,
        snapshots: Any,
        metering: Any,
        progress: Progress,
        step_seconds: float,
    ) -> None:
        self.role = role
        self.agent_id = agent_id
        self.snapshots = snapshots
        self.metering = metering
        self.progress = progress
        self.step_seconds = step_seconds
        self.restored: dict[str, Any] = {}  # task_id -> snapshot loaded by state_restore
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def start(
        self, task_id: str, consumer_id: str, total_steps: int, first_step: int, partial_sum: int
    ) -> None:
        thread = threading.Thread(
            target=self._run,
            args=(task_id, consumer_id, total_steps, first_step, partial_sum),
            name=f"task-{task_id}",
            daemon=True,
        )
        self._threads.append(thread)
        thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _run(
        self, task_id: str, consumer_id: str, total_steps: int, first_step: int, partial_sum: int
    ) -> None:
        from asap.models.entities import StateSnapshot
        from asap.models.ids import generate_id
        from asap.state.metering import UsageEvent, UsageMetrics

        try:
            for step in range(first_step, total_steps + 1):
                began = time.perf_counter()
                if self._stop.wait(self.step_seconds):  # the step's (simulated) work
                    self.progress.emit("stopped", task_id=task_id, step=step)
                    return
                partial_sum += step * step
                done = step == total_steps
                snapshot = StateSnapshot(
                    id=generate_id(),
                    task_id=task_id,
                    version=step,
                    data={
                        "step": step,
                        "total_steps": total_steps,
                        "partial_sum": partial_sum,
                        "status": "done" if done else "working",
                        "agent": self.role,
                        "pid": os.getpid(),
                    },
                    checkpoint=True,
                    created_at=datetime.now(timezone.utc),
                )
                self.snapshots.save(snapshot)
                tokens_in, tokens_out = step_tokens(step)
                self.metering.record_sync(
                    UsageEvent(
                        task_id=task_id,
                        agent_id=self.agent_id,
                        consumer_id=consumer_id,
                        metrics=UsageMetrics(
                            tokens_in=tokens_in,
                            tokens_out=tokens_out,
                            duration_ms=int((time.perf_counter() - began) * 1000),
                            api_calls=1,
                        ),
                        timestamp=datetime.now(timezone.utc),
                    )
                )
                # Reported only now: both writes have returned, so they are committed.
                self.progress.emit(
                    "committed",
                    task_id=task_id,
                    step=step,
                    version=step,
                    snapshot_id=snapshot.id,
                    partial_sum=partial_sum,
                )
            self.progress.emit(
                "finished", task_id=task_id, step=total_steps, partial_sum=partial_sum
            )
        except Exception as error:  # reported to the coordinator, which fails the demo
            self.progress.emit("error", task_id=task_id, message=f"{type(error).__name__}: {error}")


POSTGRES_URL_ENV = "ASAP_DEMO_POSTGRES_URL"


def postgres_url() -> str | None:
    """The PostgreSQL server the agents share instead of the file (make demo-pg), if any.

    (Its own variable: with ASAP_STORAGE_BACKEND=postgresql, importing asap.transport needs
    asap_native.integration.install() first, as asap builds a default app at import time.)
    """
    return os.environ.get(POSTGRES_URL_ENV) or None


def open_snapshot_store(db_path: Path) -> Any:
    """The shared snapshot store: the SQLite file, or PostgreSQL (see postgres_url())."""
    import asap_native

    url = postgres_url()
    return (
        asap_native.PostgresSnapshotStore(url) if url else asap_native.SQLiteSnapshotStore(db_path)
    )


def open_metering_store(db_path: Path) -> Any:
    """The shared metering store, beside the snapshots."""
    import asap_native

    url = postgres_url()
    return (
        asap_native.PostgresMeteringStore(url) if url else asap_native.SQLiteMeteringStore(db_path)
    )


def agent_manifest(
    agent_id: str, name: str, description: str, *, skill: tuple[str, str], url: str
) -> Any:
    """asap's Manifest of an agent with one ``skill`` (id, description) that keeps its state in
    snapshots, served at ``url`` (the tests' asap apps are described the same way)."""
    from asap.models.entities import Capability, Endpoint, Manifest, Skill

    skill_id, skill_description = skill
    return Manifest(
        id=agent_id,
        name=name,
        version="0.1.0",
        description=description,
        capabilities=Capability(
            asap_version="0.1",
            skills=[Skill(id=skill_id, description=skill_description)],
            state_persistence=True,
        ),
        endpoints=Endpoint(asap=url),
    )


def reply_to(envelope: Any, sender: str, payload_type: str, payload: dict[str, Any]) -> Any:
    """asap's Envelope answering ``envelope`` from ``sender``, in the same trace."""
    from asap.models.envelope import Envelope

    return Envelope(
        asap_version=envelope.asap_version,
        sender=sender,
        recipient=envelope.sender,
        payload_type=payload_type,
        payload=payload,
        correlation_id=envelope.id,
        trace_id=envelope.trace_id,
    )


def build_app(role: str, port: int, db_path: Path, progress: Progress, step_seconds: float) -> Any:
    """The asap-protocol app with native stores, behind the decompression middleware."""
    from asap.models.entities import Manifest
    from asap.models.enums import TaskStatus
    from asap.models.envelope import Envelope
    from asap.models.payloads import TaskRequest, TaskResponse
    from asap.transport.handlers import HandlerRegistry
    from asap.transport.server import create_app

    import asap_native

    agent_id = AGENT_IDS[role]
    manifest = agent_manifest(
        agent_id,
        f"Failover {role}",
        "Works through a task, one snapshot per step (asap_native failover demo)",
        skill=(SKILL, "Multi-step task with a snapshot per step"),
        url=f"http://127.0.0.1:{port}/asap",
    )
    snapshots = open_snapshot_store(db_path)
    metering = open_metering_store(db_path)
    runner = TaskRunner(role, agent_id, snapshots, metering, progress, step_seconds)

    def reply(envelope: Envelope, payload_type: str, payload: dict[str, Any]) -> Envelope:
        return reply_to(envelope, manifest.id, payload_type, payload)

    def task_response(
        envelope: Envelope, task_id: str, status: TaskStatus, result: dict[str, Any]
    ) -> Envelope:
        payload = TaskResponse(task_id=task_id, status=status, result=result).model_dump()
        return reply(envelope, "task.response", payload)

    def on_task_request(envelope: Envelope, manifest: Manifest) -> Envelope:
        request = TaskRequest(**envelope.payload_dict)
        task_id = str(request.input.get("task_id", ""))
        total_steps = int(request.input.get("total_steps", 0))
        if request.skill_id != SKILL or not task_id or total_steps < 1:
            return task_response(
                envelope,
                task_id or "unknown",
                TaskStatus.FAILED,
                {"error": "bad request", "skill_id": request.skill_id},
            )
        if request.input.get("resume"):
            restored = runner.restored.get(task_id)
            latest = snapshots.get(task_id)
            if restored is None or latest is None or latest.id != restored.id:
                return task_response(
                    envelope,
                    task_id,
                    TaskStatus.FAILED,
                    {"error": "no restored state, or the store moved on since"},
                )
            first_step = int(latest.data["step"]) + 1
            partial_sum = int(latest.data["partial_sum"])
        else:
            if snapshots.get(task_id) is not None:
                return task_response(
                    envelope,
                    task_id,
                    TaskStatus.FAILED,
                    {"error": "task already has state: resume it instead"},
                )
            first_step, partial_sum = 1, 0
        progress.emit("started", task_id=task_id, first_step=first_step, total_steps=total_steps)
        runner.start(task_id, envelope.sender, total_steps, first_step, partial_sum)
        return task_response(
            envelope,
            task_id,
            TaskStatus.WORKING,
            {"first_step": first_step, "total_steps": total_steps},
        )

    def on_state_restore(envelope: Envelope, manifest: Manifest) -> Envelope:
        payload = envelope.payload_dict
        task_id, snapshot_id = payload.get("task_id"), payload.get("snapshot_id")
        snapshot = snapshots.get(task_id) if task_id else None
        if snapshot is None or snapshot.id != snapshot_id:
            return reply(
                envelope,
                "state_restore.ack",
                {"ok": False, "error": "snapshot not found (or not the latest)"},
            )
        runner.restored[task_id] = snapshot
        progress.emit(
            "restored",
            task_id=task_id,
            version=snapshot.version,
            snapshot_id=snapshot.id,
            step=snapshot.data.get("step"),
            partial_sum=snapshot.data.get("partial_sum"),
            saved_by=snapshot.data.get("agent"),
        )
        return reply(
            envelope,
            "state_restore.ack",
            {
                "ok": True,
                "task_id": task_id,
                "snapshot_id": snapshot.id,
                "version": snapshot.version,
            },
        )

    registry = HandlerRegistry()
    registry.register("task.request", on_task_request)
    registry.register("state_restore", on_state_restore)
    app = create_app(
        manifest,
        registry,
        rate_limit="100000/second",
        snapshot_store=snapshots,
        metering_store=metering,
    )
    return asap_native.DecompressionMiddleware(app), runner, snapshots, metering


def watch_parent(parent_pid: int, max_seconds: float) -> None:
    """Exit if the coordinator is gone or the time limit passes: never an orphan server."""
    deadline = time.monotonic() + max_seconds
    while True:
        if os.getppid() != parent_pid or time.monotonic() > deadline:
            os._exit(3)
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=sorted(AGENT_IDS), required=True)
    parser.add_argument(
        "--db", type=Path, required=True, help="shared SQLite file (unless postgres_url())"
    )
    parser.add_argument("--progress", type=Path, required=True, help="progress file (JSON lines)")
    parser.add_argument("--step-ms", type=float, default=30.0, help="simulated work per step")
    parser.add_argument("--max-seconds", type=float, default=110.0, help="hard lifetime limit")
    args = parser.parse_args(argv)

    threading.Thread(
        target=watch_parent, args=(os.getppid(), args.max_seconds), daemon=True
    ).start()
    logging.captureWarnings(True)  # third-party deprecation warnings go to the log, too

    import uvicorn

    progress = Progress(args.progress, args.role)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # a free port chosen by the kernel, no race
    port = sock.getsockname()[1]
    app, runner, snapshots, metering = build_app(
        args.role, port, args.db, progress, args.step_ms / 1000.0
    )
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    )
    # uvicorn handles SIGTERM/SIGINT while serving, then restores these handlers and raises
    # the signal again: with a no-op handler here, that lets the stores close cleanly below.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    progress.emit("listening", port=port, pid=os.getpid())
    server.run(sockets=[sock])  # returns after SIGTERM/SIGINT (graceful shutdown)
    runner.stop()
    snapshots.close()
    metering.close()
    progress.emit("stopped", pid=os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
