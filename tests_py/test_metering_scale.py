"""Metering on a file of tens of thousands of events written by asap-protocol's row encoder
(a tenth at +02:00, rows in every odd form besides): windows are exact and read an index
range on either plan, aggregates equal asap-protocol's, and asap-protocol keeps reading and
writing the file after the metering store added its instant index."""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from _usage_files import AGENT, START, window, write_usage_file
from asap.state.stores.sqlite import _AGGREGATE_SQL
from asap.state.stores.sqlite import SQLiteMeteringStore as AsapMeteringStore
from conftest import make_event

import asap_native

UTC = timezone.utc
EVENTS = 30_000  # of the main agent: 250 hours at 120 an hour

# Rows in forms asap-protocol does not write but the parser reads (and two it does not):
# (timestamp text, instant or None).
ODD_FORMS = [
    ("2024-05-03 10:00:00+00:00", datetime(2024, 5, 3, 10, tzinfo=UTC)),
    ("2024-05-03T10:00:00Z", datetime(2024, 5, 3, 10, tzinfo=UTC)),
    ("2024-05-03T10:00:00z", datetime(2024, 5, 3, 10, tzinfo=UTC)),
    ("2024-05-03T10:00", datetime(2024, 5, 3, 10, tzinfo=UTC)),
    ("2024-05-03", datetime(2024, 5, 3, tzinfo=UTC)),
    ("2024-05-03 23:30:00.5-23:00", datetime(2024, 5, 4, 22, 30, 0, 500000, tzinfo=UTC)),
    ("2024-05-04T08:00:00+15:30", datetime(2024, 5, 3, 16, 30, tzinfo=UTC)),
    ("2024-05-03T12:00:00+01:02:03", datetime(2024, 5, 3, 10, 57, 57, tzinfo=UTC)),
    ("2024-05-03T10:00:00,25+00:00", datetime(2024, 5, 3, 10, 0, 0, 250000, tzinfo=UTC)),
    ("2024-05-03t10:00:00", None),
    ("not a time", None),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scale") / "usage.db"
    write_usage_file(path, EVENTS)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany(
            "INSERT INTO usage_events VALUES (?, 't', ?, 'c', "
            '\'{"tokens_in":1,"tokens_out":1,"duration_ms":1,"api_calls":1}\', ?)',
            [(f"evt_odd_{i}", AGENT, text) for i, (text, _) in enumerate(ODD_FORMS)],
        )
    return path


@pytest.fixture(params=[True, False], ids=["instant-index", "text-index"])
def store(request: pytest.FixtureRequest, template: Path, tmp_path: Path) -> Iterator[Any]:
    path = tmp_path / "usage.db"
    shutil.copy(template, path)
    with asap_native.SQLiteMeteringStore(path, instant_index=request.param) as opened:
        yield opened


def oracle(template: Path) -> list[tuple[datetime, int, str]]:
    """(instant, rowid, task_id) of every main-agent row, in query order."""
    with closing(sqlite3.connect(template)) as conn:
        rows = conn.execute(
            "SELECT rowid, task_id, timestamp FROM usage_events WHERE agent_id = ?", (AGENT,)
        ).fetchall()
    odd = dict(ODD_FORMS)
    out = []
    for rowid, task_id, text in rows:
        if text in odd:
            instant = odd[text]
            if instant is None:
                continue
        else:
            instant = datetime.fromisoformat(text)
        out.append((instant, rowid, task_id))
    return sorted(out)


def test_windows_are_exact(store: Any, template: Path) -> None:
    expected_all = oracle(template)
    rng = random.Random(20240517)
    windows = [window(rng.randrange(0, 250), rng.choice([0.02, 0.5, 1, 3, 30])) for _ in range(60)]
    windows += [  # around the odd rows, and the whole history
        (datetime(2024, 5, 3, 9, tzinfo=UTC), datetime(2024, 5, 3, 11, tzinfo=UTC)),
        (datetime(2024, 5, 2, 23, tzinfo=UTC), datetime(2024, 5, 3, 0, tzinfo=UTC)),
        (datetime(2024, 5, 4, 22, tzinfo=UTC), datetime(2024, 5, 4, 23, tzinfo=UTC)),
        (datetime(2024, 5, 3, 16, tzinfo=UTC), datetime(2024, 5, 3, 17, tzinfo=UTC)),
        (START - timedelta(days=400), START + timedelta(days=400)),
    ]
    for start, end in windows:
        want = [task for instant, _, task in expected_all if start <= instant <= end]
        got = store.query_sync(AGENT, start, end)
        assert [event.task_id for event in got] == want, (start, end)
    start, end = windows[-1]
    page = store.query_sync(AGENT, start, end, limit=50, offset=1000)
    assert [e.task_id for e in page] == [task for _, _, task in expected_all][1000:1050]


async def test_awaited_windows_match_sync(store: Any) -> None:
    for hour in (0, 17, 120, 249):
        start, end = window(hour)
        assert await store.query(AGENT, start, end) == store.query_sync(AGENT, start, end)
        assert len(store.query_sync(AGENT, start, end)) in (120, 121)


def test_the_plan_reads_an_index_range(store: Any, request: pytest.FixtureRequest) -> None:
    plan = store._native._explain_query(AGENT, *window(100))
    if "instant-index" in request.node.name:
        assert (
            "SEARCH usage_events USING INDEX asap_native_usage_instant "
            "(agent_id=? AND <expr>>? AND <expr><?)"
        ) in plan
    else:
        assert (
            "SEARCH usage_events USING INDEX idx_usage_agent_timestamp "
            "(agent_id=? AND timestamp>? AND timestamp<?)"
        ) in plan
    assert not any(line.startswith("SCAN usage_events") for line in plan), plan
    assert sum(line.startswith("SEARCH usage_events") for line in plan) == 2, plan


@pytest.mark.same_sqlite_in_process
def test_aggregate_equals_asaps(store: Any) -> None:
    with closing(sqlite3.connect(store.db_path)) as conn:
        tokens, duration, tasks, calls = conn.execute(_AGGREGATE_SQL, (AGENT,)).fetchone()
    total = store.aggregate_sync(AGENT, "day")
    assert (total.total_tokens, total.total_duration, total.total_tasks) == (
        tokens,
        duration,
        tasks,
    )
    assert total.total_api_calls == calls


@pytest.mark.same_sqlite_in_process
def test_asap_keeps_reading_and_writing_the_file(template: Path, tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    shutil.copy(template, path)
    asap_native.SQLiteMeteringStore(path, instant_index=True).close()
    with closing(sqlite3.connect(path)) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master")]
    assert "asap_native_usage_instant" in names
    moment = datetime(2024, 5, 5, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))

    async def asap_side() -> list[Any]:
        theirs = AsapMeteringStore(path)
        await theirs.record(make_event(AGENT, moment, task_id="from_asap"))
        return await theirs.query(
            AGENT, moment - timedelta(minutes=1), moment + timedelta(minutes=1)
        )

    events = asyncio.run(asap_side())
    assert "from_asap" in [event.task_id for event in events]
    with asap_native.SQLiteMeteringStore(path) as ours:
        window_events = ours.query_sync(AGENT, moment, moment)
        assert [event.task_id for event in window_events] == ["from_asap"]
        assert ours.check_sync().ok
