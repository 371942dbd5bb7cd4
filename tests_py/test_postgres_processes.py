"""PostgreSQL stores shared by processes: many tasks and several processes writing at once, and
writer processes SIGKILLed mid-write with every acknowledged write present afterwards."""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import time

from _postgres import PgSchema, needs_postgres_build
from conftest import make_snapshot

import asap_native

pytestmark = needs_postgres_build

# A writer: `python -c WRITER dsn name count concurrency`; prints "ack <task> <version>" once
# each awaited save returned (count 0: until killed).
WRITER = r"""
import asyncio, sys
from datetime import datetime, timezone
import asap_native

dsn, name, count, width = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

async def lane(store, lane_id):
    version = 0
    while count == 0 or version < count:
        version += 1
        task = f"{name}-{lane_id}"
        await store.save(asap_native.StateSnapshot(
            id=f"{task}-{version}", task_id=task, version=version,
            data={"writer": name, "lane": lane_id, "version": version},
            checkpoint=False, created_at=datetime.now(timezone.utc)))
        sys.stdout.write(f"ack {task} {version}\n")
        sys.stdout.flush()

async def main():
    async with asap_native.PostgresAsyncSnapshotStore(dsn) as store:
        await asyncio.gather(*(lane(store, i) for i in range(width)))

asyncio.run(main())
"""


def _spawn(pg: PgSchema, name: str, count: int, width: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, pg.dsn, name, str(count), str(width)],
        stdout=subprocess.PIPE,
        text=True,
    )


def _stored(pg: PgSchema) -> dict[tuple[str, int], str]:
    rows = pg.sql("SELECT task_id, version, data_text FROM snapshots").splitlines()
    out = {}
    for row in rows:
        task, version, data = row.split("|", 2)
        out[(task, int(version))] = data
    return out


def test_several_processes_and_many_tasks_write_at_once(pg: PgSchema) -> None:
    asap_native.PostgresSnapshotStore(pg.dsn).close()  # the schema, before the race
    children = [_spawn(pg, f"p{i}", 40, 16) for i in range(4)]

    async def local() -> None:
        async with asap_native.PostgresAsyncSnapshotStore(pg.dsn) as store:
            await asyncio.gather(
                *(store.save(make_snapshot(f"local-{i % 32}", i + 1)) for i in range(640))
            )
            got = await asyncio.gather(*(store.list_versions(f"local-{i}") for i in range(32)))
            assert sum(len(v) for v in got) == 640

    asyncio.run(local())
    for child in children:
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0
        assert out.count("ack ") == 40 * 16
    stored = _stored(pg)
    assert len(stored) == 4 * 16 * 40 + 640
    for i in range(4):
        for lane in range(16):
            for version in range(1, 41):
                assert f'"version":{version}' in stored[(f"p{i}-{lane}", version)]


def test_sigkill_of_writer_processes_loses_no_acknowledged_write(pg: PgSchema) -> None:
    asap_native.PostgresSnapshotStore(pg.dsn).close()
    children = [_spawn(pg, f"k{i}", 0, 16) for i in range(3)]
    acked: set[tuple[str, int]] = set()
    selector = selectors.DefaultSelector()
    for child in children:
        assert child.stdout is not None
        os.set_blocking(child.stdout.fileno(), False)
        selector.register(child.stdout, selectors.EVENT_READ)
    buffers = {child.stdout: "" for child in children}
    deadline = time.monotonic() + 60
    try:
        while len(acked) < 3000 and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                stream = key.fileobj
                chunk = stream.read()  # type: ignore[union-attr]
                if not chunk:
                    continue
                buffers[stream] += chunk  # type: ignore[index]
                *lines, buffers[stream] = buffers[stream].split("\n")  # type: ignore[index]
                for line in lines:
                    _, task, version = line.split()
                    acked.add((task, int(version)))
    finally:
        for child in children:
            child.send_signal(signal.SIGKILL)
        for child in children:
            child.wait()
            assert child.stdout is not None
            child.stdout.close()
        selector.close()
    assert len(acked) >= 3000, "the writers were too slow to test anything"
    assert all(child.returncode == -signal.SIGKILL for child in children)
    stored = _stored(pg)
    missing = sorted(acked - set(stored))
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    # Each stored write is whole.
    for (task, version), data in stored.items():
        assert f'"version":{version}' in data and task.split("-")[0] in data
