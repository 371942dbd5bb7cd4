"""Helpers for the awaitable-store tests: a held SQLite write lock (to queue writes behind a
busy writer deterministically), an event-loop lag monitor, polling, and child processes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import IO, Any

TESTS_DIR = Path(__file__).resolve().parent

# Long enough never to matter on a healthy run, short enough that a hang fails the test.
PATIENCE = 60.0


class WriteLock:
    """Holds the database's write lock through a stdlib sqlite3 connection.

    While it is held, the store's writer thread waits in BEGIN IMMEDIATE, so every write
    submitted meanwhile is still queued (and cancellable mid-flight) when the lock goes.
    """

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self._conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._held = False

    def acquire(self) -> WriteLock:
        self._conn.execute("BEGIN IMMEDIATE")
        self._held = True
        return self

    def release(self) -> None:
        if self._held:
            self._held = False
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self.release()
        self._conn.close()

    def __enter__(self) -> WriteLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.close()


def count_rows(
    db_path: str | os.PathLike[str], where: str = "1", args: tuple[Any, ...] = ()
) -> int:
    """Snapshot rows matching ``where``, read through a fresh stdlib connection."""
    with closing(sqlite3.connect(db_path)) as conn:
        return int(
            conn.execute(f"SELECT count(*) FROM snapshots WHERE {where}", args).fetchone()[0]
        )


def integrity_check(db_path: str | os.PathLike[str]) -> str:
    with closing(sqlite3.connect(db_path)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


async def wait_until(predicate: Callable[[], bool], timeout: float = PATIENCE) -> None:
    """Polls ``predicate`` without blocking the loop; fails the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)


class LagMonitor:
    """Measures how late the event loop wakes a task that sleeps ``interval`` in a loop.

    Use as ``async with LagMonitor() as lag: ...``; then ``lag.figures()`` gives the
    p50/p99/max lateness in milliseconds.
    """

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._stop = False

    async def _run(self) -> None:
        while not self._stop:
            start = time.perf_counter()
            await asyncio.sleep(self.interval)
            self.lags.append(max(0.0, time.perf_counter() - start - self.interval))

    async def __aenter__(self) -> LagMonitor:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop = True
        assert self._task is not None
        await self._task

    def figures(self) -> dict[str, float]:
        ordered = sorted(self.lags)
        if not ordered:
            return {"samples": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        return {
            "samples": len(ordered),
            "p50_ms": round(pick(0.50), 3),
            "p99_ms": round(pick(0.99), 3),
            "max_ms": round(ordered[-1] * 1000, 3),
        }


def run_python(
    code: str, *args: str, timeout: float = PATIENCE, **popen: Any
) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a fresh interpreter (this venv, tests_py importable)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        **popen,
    )


def spawn_python(code: str, *args: str) -> subprocess.Popen[str]:
    """Starts ``code`` in a fresh interpreter with pipes for stdin/stdout/stderr."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_line(pipe: IO[str] | None) -> str:
    """The next line a child wrote to ``pipe``, read a byte at a time.

    ``pipe.readline()`` may buffer what the child wrote after the line, where a later
    ``communicate()`` (which reads the file descriptor) never sees it.
    """
    assert pipe is not None
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(pipe.fileno(), 1)
        if not byte:
            break
        line += byte
    return line.decode()


def assert_clean_exit(result: subprocess.CompletedProcess[str]) -> None:
    """Exit code 0 and nothing on stderr that points at a crash."""
    detail = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, detail
    for marker in ("Fatal Python error", "Segmentation fault", "terminate called", "Traceback"):
        assert marker not in result.stderr, detail
