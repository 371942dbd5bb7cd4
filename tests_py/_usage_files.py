"""Usage-event files as asap-protocol writes them, large ones included (for the scale tests and
bench/bench_metering.py): asap's own DDL and row encoder, inserted in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from asap.state.metering import UsageEvent, UsageMetrics
from asap.state.stores.sqlite import _INSERT_EVENT_SQL, _USAGE_EVENTS_DDL, _event_to_row

UTC = timezone.utc
PLUS2 = timezone(timedelta(hours=2))
START = datetime(2024, 5, 1, tzinfo=UTC)
AGENT = "agent-main"
#: Seconds between two events of the main agent: 120 an hour.
SPACING = 30


def event_at(index: int, agent: str, moment: datetime) -> UsageEvent:
    """The index-th event (counters derived from the index), unvalidated for speed."""
    metrics = UsageMetrics.model_construct(
        tokens_in=index % 997, tokens_out=7 + index % 13, duration_ms=index % 5000, api_calls=1
    )
    return UsageEvent.model_construct(
        task_id=f"task_{index}",
        agent_id=agent,
        consumer_id=f"consumer_{index % 7}",
        metrics=metrics,
        timestamp=moment,
    )


def main_agent_events(count: int, offset_every: int = 10) -> Iterator[UsageEvent]:
    """The main agent's events, SPACING seconds apart from START; every offset_every-th one
    stamped at +02:00 (the same instant)."""
    for index in range(count):
        moment = START + timedelta(seconds=SPACING * index)
        if offset_every and index % offset_every == 0:
            moment = moment.astimezone(PLUS2)
        yield event_at(index, AGENT, moment)


def other_agent_events(count: int, span: timedelta) -> Iterator[UsageEvent]:
    """Events of five other agents spread over the same span."""
    step = span / max(count, 1)
    for index in range(count):
        yield event_at(index, f"agent-other-{index % 5}", START + step * index)


def write_usage_file(path: Path, main_events: int, other_events: int | None = None) -> None:
    """A file holding `main_events` events of AGENT and `other_events` (default a fifth as
    many) of other agents, written with asap-protocol's DDL and row encoder."""
    others = main_events // 5 if other_events is None else other_events
    span = timedelta(seconds=SPACING * main_events)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_USAGE_EVENTS_DDL)
        events: Iterator[UsageEvent] = main_agent_events(main_events)
        rows: Any = (
            _event_to_row(event, f"evt_{index:026d}") for index, event in enumerate(events)
        )
        with conn:
            conn.executemany(_INSERT_EVENT_SQL, rows)
            conn.executemany(
                _INSERT_EVENT_SQL,
                (
                    _event_to_row(event, f"evt_o{index:025d}")
                    for index, event in enumerate(other_agent_events(others, span))
                ),
            )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def window(hour: int, hours: float = 1.0) -> tuple[datetime, datetime]:
    """A window of `hours` starting `hour` hours after START."""
    start = START + timedelta(hours=hour)
    return start, start + timedelta(hours=hours)
