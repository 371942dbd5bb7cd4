"""PostgreSQL snapshot stores: asap_native against an asyncpg store and a psycopg 3 store.

    python bench/bench_postgres.py [--quick] [--dsn postgresql://...] [--json FILE]

All three run against the same server in the same run, interleaved round by round, each in a
schema of its own with the same table shape (jsonb data, timestamptz, upsert on (task_id,
version)). Without ``--dsn`` (or ``ASAP_BENCH_POSTGRES_DSN``) a throwaway cluster is started
with tools/pg_cluster.py (fsync on) and stopped afterwards; connections go over its Unix socket.

- 64-way awaited save: 64 tasks each awaiting saves one after the other; µs per save is the
  round's wall time over its saves (median of the rounds). asap_native's
  ``PostgresAsyncSnapshotStore`` (group commit) vs an asyncpg store (pool of 8, one upsert per
  save, json.dumps into jsonb).
- sync save / sync get: one thread, each call timed; medians. asap_native's
  ``PostgresSnapshotStore`` vs a psycopg 3 store (autocommit, prepared statements, Jsonb).

Self-contained (bench/run.py discovers it as the ``postgres`` module): ``run(progress, quick)``
returns the section, the target checks and the figures. Needs asyncpg and psycopg (bench-only
dependencies: ``pip install asyncpg 'psycopg[binary]'``); a peer that is missing is reported as
not measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

if not __package__:  # run as a script: the repo root makes the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asap_native
from bench import common

TITLE = "PostgreSQL snapshot stores"
TASKS = 64
ROOT = Path(__file__).resolve().parent.parent

PLANS: dict[str, dict[str, int]] = {
    # rounds; saves per task per round (64-way); sync calls per round
    "full": {"rounds": 9, "per_task": 40, "sync_calls": 300},
    "quick": {"rounds": 2, "per_task": 3, "sync_calls": 20},
}

TABLE = """
CREATE TABLE snapshots (
    task_id text NOT NULL,
    version bigint NOT NULL,
    id text NOT NULL,
    data jsonb NOT NULL,
    checkpoint boolean NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (task_id, version)
)"""
UPSERT_TAIL = (
    " ON CONFLICT (task_id, version) DO UPDATE SET id = EXCLUDED.id, data = EXCLUDED.data, "
    "checkpoint = EXCLUDED.checkpoint, created_at = EXCLUDED.created_at"
)
ASYNCPG_UPSERT = (
    "INSERT INTO snapshots (task_id, version, id, data, checkpoint, created_at) "
    "VALUES ($1, $2, $3, $4::jsonb, $5, $6)" + UPSERT_TAIL
)
PSYCOPG_UPSERT = (
    "INSERT INTO snapshots (task_id, version, id, data, checkpoint, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s)" + UPSERT_TAIL
)
GET_LATEST = (
    "SELECT task_id, id, version, data, checkpoint, created_at FROM snapshots "
    "WHERE task_id = {} ORDER BY version DESC LIMIT 1"
)

NATIVE = "asap_native"
ASYNCPG = "asyncpg (pool of 8)"
PSYCOPG = "psycopg 3 (autocommit, prepared)"


def make_state(seed: int = 7) -> dict[str, Any]:
    """An agent task state of about 1 KiB of JSON."""
    rng = random.Random(seed)
    return {
        "task": {"id": "task_01HX5K4N8Q", "skill": "research", "status": "working", "attempt": 2},
        "context": {"user": {"id": "usr_8812", "locale": "en-GB"}, "flags": {"stream": True}},
        "plan": [{"step": i, "tool": rng.choice(["search", "read", "write"])} for i in range(6)],
        "messages": [
            {"role": rng.choice(["user", "assistant"]), "text": "x" * rng.randint(40, 90)}
            for _ in range(6)
        ],
        "metrics": {"tokens_in": 18231, "tokens_out": 2210, "cost_usd": 0.0421},
    }


# ---------------------------------------------------------------- the server


@contextlib.contextmanager
def _server(dsn: str | None) -> Iterator[str]:
    """A postgresql:// URL of the server to use: the one given, or a throwaway cluster."""
    given = dsn or os.environ.get("ASAP_BENCH_POSTGRES_DSN")
    if given:
        yield given
        return
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from pg_cluster import SUPERUSER, Cluster
    finally:
        sys.path.pop(0)
    cluster = Cluster.start()
    try:
        yield (
            f"postgresql://{SUPERUSER}@/postgres?host={quote(str(cluster.folder))}"
            f"&port={cluster.port}"
        )
    finally:
        cluster.stop()


def _with_schema(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


def _missing(module: str) -> str | None:
    return None if importlib.util.find_spec(module) else f"{module} is not installed"


# ---------------------------------------------------------------- peers


class AsyncpgStore:
    """The store a user would write with asyncpg: a pool of 8, one upsert per save."""

    def __init__(self, url: str, schema: str) -> None:
        self.url, self.schema = url, schema
        self.pool: Any = None
        self.model = common.snapshot_model()

    async def open(self) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(
            self.url, min_size=8, max_size=8, server_settings={"search_path": self.schema}
        )

    async def save(self, s: Any) -> None:
        await self.pool.execute(
            ASYNCPG_UPSERT,
            s.task_id,
            s.version,
            s.id,
            json.dumps(s.data),
            s.checkpoint,
            s.created_at,
        )

    async def get(self, task_id: str) -> Any:
        row = await self.pool.fetchrow(GET_LATEST.format("$1"), task_id)
        return self.model(
            id=row["id"],
            task_id=row["task_id"],
            version=row["version"],
            data=json.loads(row["data"]),
            checkpoint=row["checkpoint"],
            created_at=row["created_at"],
        )

    async def close(self) -> None:
        await self.pool.close()


class PsycopgStore:
    """The store a user would write with psycopg 3: autocommit, prepared statements, Jsonb."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.model = common.snapshot_model()

    def save(self, s: Any) -> None:
        from psycopg.types.json import Jsonb

        self.conn.execute(
            PSYCOPG_UPSERT,
            (s.task_id, s.version, s.id, Jsonb(s.data), s.checkpoint, s.created_at),
            prepare=True,
        )

    def get(self, task_id: str) -> Any:
        row = self.conn.execute(GET_LATEST.format("%s"), (task_id,), prepare=True).fetchone()
        return self.model(
            id=row[1],
            task_id=row[0],
            version=row[2],
            data=row[3],
            checkpoint=row[4],
            created_at=row[5],
        )

    def close(self) -> None:
        self.conn.close()


# ---------------------------------------------------------------- measuring


class _Bench:
    def __init__(self, url: str, plan: dict[str, int], report: Callable[..., Any]) -> None:
        self.url, self.plan, self.report = url, plan, report
        self.model = common.snapshot_model()
        self.data = make_state()
        self.serial = 0
        self.skipped: dict[str, str] = {}

    def snapshot(self, task: str, version: int) -> Any:
        return self.model(
            id=f"snap-{task}-{version}",
            task_id=task,
            version=version,
            data=self.data,
            checkpoint=False,
            created_at=common.CREATED_AT,
        )

    def fresh(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def setup_schemas(self) -> None:
        admin = asap_native.PostgresSnapshotStore(self.url)  # proves the server is reachable
        admin.close()
        import_error = _missing("psycopg")
        if import_error:
            raise RuntimeError(f"bench_postgres needs psycopg to set up schemas: {import_error}")
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            for schema in ("bench_native", "bench_asyncpg", "bench_psycopg"):
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                conn.execute(f"CREATE SCHEMA {schema}")
            for schema in ("bench_asyncpg", "bench_psycopg"):
                conn.execute(f"SET search_path = {schema}")
                conn.execute(TABLE)
            conn.execute("CREATE TABLE bench_psycopg.floor (n bigserial PRIMARY KEY)")

    def drop_schemas(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            for schema in ("bench_native", "bench_asyncpg", "bench_psycopg"):
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    # 64-way awaited saves, interleaved per round.
    def async_saves(self) -> dict[str, Any]:
        rounds, per_task = self.plan["rounds"], self.plan["per_task"]
        results: dict[str, list[float]] = {NATIVE: [], ASYNCPG: []}
        gets: dict[str, list[float]] = {NATIVE: [], ASYNCPG: []}
        batch: dict[str, Any] = {}
        if _missing("asyncpg"):
            self.skipped[ASYNCPG] = str(_missing("asyncpg"))
            del results[ASYNCPG], gets[ASYNCPG]

        async def main() -> None:
            native = asap_native.PostgresAsyncSnapshotStore(_with_schema(self.url, "bench_native"))
            peer = AsyncpgStore(self.url, "bench_asyncpg") if ASYNCPG in results else None
            if peer:
                await peer.open()
            stores: dict[str, Any] = {NATIVE: native, ASYNCPG: peer}
            try:
                for r in range(rounds + 1):  # round 0 warms up
                    order = list(results) if r % 2 == 0 else list(reversed(results))
                    for impl in order:
                        self.report((r * 2) / (2 * (rounds + 1)) * 0.6, f"64-way save, {impl}")
                        prefix = self.fresh("a")
                        work = [
                            [self.snapshot(f"{prefix}-{t}", v) for v in range(1, per_task + 1)]
                            for t in range(TASKS)
                        ]
                        store = stores[impl]

                        async def saver(items: list[Any], store: Any = store) -> None:
                            for item in items:
                                await store.save(item)

                        async def getter(items: list[Any], store: Any = store) -> None:
                            for item in items:
                                await store.get(item.task_id)

                        start = time.perf_counter()
                        await asyncio.gather(*(saver(items) for items in work))
                        elapsed = time.perf_counter() - start
                        start = time.perf_counter()
                        await asyncio.gather(*(getter(items) for items in work))
                        get_elapsed = time.perf_counter() - start
                        if r > 0:
                            results[impl].append(elapsed / (TASKS * per_task) * 1e6)
                            gets[impl].append(get_elapsed / (TASKS * per_task) * 1e6)
                batch.update(native.stats()["group_commit"])
            finally:
                native.close()
                if peer:
                    await peer.close()

        asyncio.run(main())
        return {"save_us": results, "get_us": gets, "group_commit": batch}

    # Sync saves and gets, each call timed, interleaved per round.
    def sync_calls(self) -> dict[str, Any]:
        rounds, calls = self.plan["rounds"], self.plan["sync_calls"]
        saves: dict[str, list[float]] = {NATIVE: [], PSYCOPG: []}
        gets: dict[str, list[float]] = {NATIVE: [], PSYCOPG: []}
        if _missing("psycopg"):
            self.skipped[PSYCOPG] = str(_missing("psycopg"))
            del saves[PSYCOPG], gets[PSYCOPG]
        stores: dict[str, Any] = {
            NATIVE: asap_native.PostgresSnapshotStore(_with_schema(self.url, "bench_native"))
        }
        if PSYCOPG in saves:
            stores[PSYCOPG] = PsycopgStore(_with_schema(self.url, "bench_psycopg"))
        get_tasks = [f"g{t}" for t in range(TASKS)]
        floors: dict[str, list[float]] = {"round trip": [], "commit": []}
        try:
            for store in stores.values():
                for task in get_tasks:
                    for v in (1, 2, 3):
                        store.save(self.snapshot(task, v))
            for r in range(rounds + 1):
                order = list(saves) if r % 2 == 0 else list(reversed(saves))
                for impl in order:
                    self.report(0.6 + 0.4 * r / (rounds + 1), f"sync save/get, {impl}")
                    store = stores[impl]
                    prefix = self.fresh("s")
                    items = [self.snapshot(f"{prefix}-{i}", 1) for i in range(calls)]
                    save_times, get_times = [], []
                    for item in items:
                        start = time.perf_counter_ns()
                        store.save(item)
                        save_times.append((time.perf_counter_ns() - start) / 1e3)
                    rng = random.Random(r)
                    for _ in range(calls):
                        task = rng.choice(get_tasks)
                        start = time.perf_counter_ns()
                        store.get(task)
                        get_times.append((time.perf_counter_ns() - start) / 1e3)
                    if r > 0:
                        saves[impl] += save_times
                        gets[impl] += get_times
                if PSYCOPG in stores and r > 0:
                    # What no store can go below: a round trip, and a commit (round trip plus
                    # the server's WAL flush, which dominates when the disk is slow).
                    conn = stores[PSYCOPG].conn
                    for _ in range(max(5, calls // 10)):
                        start = time.perf_counter_ns()
                        conn.execute("SELECT 1", prepare=True)
                        floors["round trip"].append((time.perf_counter_ns() - start) / 1e3)
                        start = time.perf_counter_ns()
                        conn.execute("INSERT INTO floor DEFAULT VALUES", prepare=True)
                        floors["commit"].append((time.perf_counter_ns() - start) / 1e3)
        finally:
            for store in stores.values():
                store.close()
        return {"save_us": saves, "get_us": gets, "floor_us": floors}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _ratio(peer: float | None, native: float | None) -> float | None:
    return None if peer is None or native is None or native == 0 else peer / native


def _check(name: str, value: float | None, floor: float) -> common.Check:
    passed = None if value is None else value >= floor
    return common.Check(name, value, f">= {floor:.2f}", passed)


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def _markdown(figures: dict[str, Any], checks: list[common.Check], quick: bool) -> str:
    a, s = figures["async"], figures["sync"]
    med = figures["medians_us"]
    lines = [
        "Same server, same run, interleaved (fsync on). Medians in µs per call; the 64-way rows"
        " are wall time over all saves of a round (median of the rounds).",
        "",
        "| workload | asap_native | peer | peer | ratio (peer / native) |",
        "|---|---:|---|---:|---:|",
        f"| 64-way awaited save | {_us(med['async_save'][NATIVE])} | {ASYNCPG} | "
        f"{_us(med['async_save'].get(ASYNCPG))} | {_x(figures['ratios']['async_save'])} |",
        f"| 64-way awaited get | {_us(med['async_get'][NATIVE])} | {ASYNCPG} | "
        f"{_us(med['async_get'].get(ASYNCPG))} | {_x(figures['ratios']['async_get'])} |",
        f"| sync save | {_us(med['sync_save'][NATIVE])} | {PSYCOPG} | "
        f"{_us(med['sync_save'].get(PSYCOPG))} | {_x(figures['ratios']['sync_save'])} |",
        f"| sync get | {_us(med['sync_get'][NATIVE])} | {PSYCOPG} | "
        f"{_us(med['sync_get'].get(PSYCOPG))} | {_x(figures['ratios']['sync_get'])} |",
        "",
        "Floors (psycopg, same server): a round trip (`SELECT 1`) "
        f"{_us(_median(s['floor_us']['round trip']))} µs; a commit (a one-row insert, "
        f"autocommit: round trip + WAL flush) {_us(_median(s['floor_us']['commit']))} µs. A sync "
        "save cannot go below the commit: when the disk's flush dominates, both stores wait "
        "for the same flush.",
        "",
        f"asap_native group commits in the 64-way runs: {a['group_commit'].get('batches', 0)}"
        f" transactions for {a['group_commit'].get('writes', 0)} saves (batch size p50 "
        f"{a['group_commit'].get('batch_size', {}).get('p50', 0)}).",
        "",
        "| target | ratio | verdict |",
        "|---|---:|---|",
    ]
    for check in checks:
        verdict = {True: "PASS", False: "FAIL", None: "not measured"}[check.passed]
        lines.append(f"| {check.name} {check.target} | {_x(check.value)} | {verdict} |")
    rounds = ", ".join(f"{v:.0f}" for v in a["save_us"][NATIVE])
    peer_rounds = ", ".join(f"{v:.0f}" for v in a["save_us"].get(ASYNCPG, []))
    lines += [
        "",
        f"64-way save per round, µs/op: asap_native {rounds}; asyncpg {peer_rounds or 'n/a'}.",
        f"Sync calls per implementation: {len(s['save_us'][NATIVE])} saves and gets.",
    ]
    if figures["skipped"]:
        lines.append(
            "Not measured: " + "; ".join(f"{k}: {v}" for k, v in figures["skipped"].items())
        )
    if quick:
        lines.append("\n(quick run: a smoke test, the numbers mean nothing)")
    return "\n".join(lines)


def run(
    progress: common.Progress | None = None,
    quick: bool = False,
    dsn: str | None = None,
) -> dict[str, Any]:
    """Runs the benchmark: figures, target checks and a markdown section."""
    report = progress or common.no_progress
    started = time.perf_counter()
    plan = PLANS["quick" if quick else "full"]
    with _server(dsn) as url:
        bench = _Bench(url, plan, report)
        bench.setup_schemas()
        try:
            async_figures = bench.async_saves()
            sync_figures = bench.sync_calls()
        finally:
            bench.drop_schemas()
    medians = {
        "async_save": {k: _median(v) for k, v in async_figures["save_us"].items()},
        "async_get": {k: _median(v) for k, v in async_figures["get_us"].items()},
        "sync_save": {k: _median(v) for k, v in sync_figures["save_us"].items()},
        "sync_get": {k: _median(v) for k, v in sync_figures["get_us"].items()},
    }
    ratios = {
        "async_save": _ratio(medians["async_save"].get(ASYNCPG), medians["async_save"][NATIVE]),
        "async_get": _ratio(medians["async_get"].get(ASYNCPG), medians["async_get"][NATIVE]),
        "sync_save": _ratio(medians["sync_save"].get(PSYCOPG), medians["sync_save"][NATIVE]),
        "sync_get": _ratio(medians["sync_get"].get(PSYCOPG), medians["sync_get"][NATIVE]),
    }
    checks = [
        _check("PostgreSQL 64-way awaited save vs asyncpg", ratios["async_save"], 3.0),
        _check("PostgreSQL sync save vs psycopg", ratios["sync_save"], 1.1),
        _check("PostgreSQL sync get vs psycopg", ratios["sync_get"], 1.3),
    ]
    figures = {
        "async": async_figures,
        "sync": sync_figures,
        "medians_us": medians,
        "ratios": ratios,
        "skipped": bench.skipped,
        "plan": plan,
    }
    return common.section(
        "postgres", TITLE, _markdown(figures, checks, quick), checks, figures, started
    )


if __name__ == "__main__":
    common.main(run, __doc__, dsn="a postgresql:// URL (default: a throwaway cluster)")
