"""asap-protocol's SQLite stores built on ``AsyncSqliteRepository`` (and the WebAuthn store),
as the repository tests drive them: how to make each, the calls a program may make (good and
bad inputs alike), what a call gave in comparable form, and every row of a database file.

Shared by test_asap_methods.py and the child processes it starts.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import asap.economics.delegation_storage as delegation_module
import asap.economics.storage as metering_module
from asap.auth.webauthn_store import SQLiteWebAuthnCredentialStore
from asap.economics.audit import AuditEntry, SQLiteAuditStore
from asap.economics.delegation_storage import SQLiteDelegationStorage
from asap.economics.metering import UsageMetrics
from asap.economics.sla import SLABreach, SLAMetrics
from asap.economics.sla_storage import SQLiteSLAStorage
from asap.economics.storage import MeteringQuery, SQLiteMeteringStorage
from hypothesis import strategies as st
from pydantic import BaseModel

UTC = timezone.utc
BASE = datetime(2024, 5, 17, 8, 0, 0, tzinfo=UTC)

STORES: dict[str, Callable[[str], Any]] = {
    "metering": lambda path: SQLiteMeteringStorage(path, retention_ttl_seconds=3600),
    "sla": SQLiteSLAStorage,
    "delegation": SQLiteDelegationStorage,
    "audit": SQLiteAuditStore,
    "webauthn": SQLiteWebAuthnCredentialStore,
}

# One statement that writes a row to each store's table (for transaction tests).
INSERT_ONE = {
    "metering": (
        "INSERT INTO usage_events (id, task_id, agent_id, consumer_id, metrics, timestamp) "
        "VALUES (?, 't', 'a', 'c', '{}', '2024-01-01T00:00:00+00:00')"
    ),
    "sla": (
        "INSERT INTO sla_breaches (id, agent_id, breach_type, threshold, actual, severity, "
        "detected_at) VALUES (?, 'a', 'latency', '1', '2', 'warning', '2024-01-01')"
    ),
    "delegation": "INSERT INTO revocations (id, revoked_at, reason) VALUES (?, '2024', NULL)",
    "audit": (
        "INSERT INTO audit_log (id, timestamp, operation, agent_urn, details) "
        "VALUES (?, '2024-01-01T00:00:00+00:00', 'op', 'urn', '{}')"
    ),
}
TABLE_OF = {
    "metering": "usage_events",
    "sla": "sla_breaches",
    "delegation": "revocations",
    "audit": "audit_log",
}
REPOSITORY_STORES = sorted(TABLE_OF)


# ---- a deterministic clock and ids (asap stamps rows with now() and random ids) --------------


@contextmanager
def deterministic() -> Iterator[None]:
    """asap's ``datetime.now`` (delegation) and ``generate_id`` (metering) made repeatable:
    each side of a comparison sees the same sequence."""
    ticks = itertools.count()
    ids = itertools.count()

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return BASE + timedelta(seconds=next(ticks))

    with (
        mock.patch.object(delegation_module, "datetime", Clock),
        mock.patch.object(metering_module, "generate_id", side_effect=lambda: f"id{next(ids):06d}"),
    ):
        yield


# ---- calls, as hypothesis draws them -------------------------------------------------------

# A few values of each kind, odd ones included: one row key shared by many calls finds the
# interesting paths (replace, revoke twice, update what is missing).
NAMES = st.sampled_from(["a", "b", "", "é 日本", "x'; DROP TABLE t; --"])
TIMES = st.sampled_from([BASE, BASE + timedelta(days=1), BASE - timedelta(days=400)]) | st.just(
    datetime(2100, 1, 1, tzinfo=UTC)
)
MAYBE_TIMES = st.none() | TIMES
# What a caller may pass where asap expects a str: asap binds what sqlite3 binds and raises
# what sqlite3 raises for the rest.
ODD = st.sampled_from([None, 7, 2**63, 1.5, b"raw", object(), ["list"]])
TEXTISH = NAMES | ODD
COUNTS = st.integers(-2, 3) | st.sampled_from([None, 2**63, True])


# Each store's public methods (writes listed twice: reads need rows to find). "bad ..." are
# writes of models built past pydantic's checks: what the database itself refuses.
METERING_CALLS = [
    *["record", "query"] * 2,
    *["bad record", "aggregate", "summary", "stats", "purge_expired"],
]
SLA_CALLS = [
    *["record_metrics", "record_breach"] * 2,
    *["query_metrics", "count_metrics", "query_breaches", "stats"],
]
DELEGATION_CALLS = [
    *["register_issued", "revoke"] * 2,
    *["revoke_cascade", "is_revoked", "get_delegator", "get_delegate"],
    *["list_token_ids_issued_by", "list_issued_summaries", "get_issued_at", "get_revoked_at"],
    *["are_revoked", "get_token_detail"],
]
AUDIT_CALLS = [*["append"] * 3, "bad append", "query", "verify_chain", "count"]
WEBAUTHN_CALLS = [
    *["save_credential"] * 2,
    *["get_credential", "update_sign_count", "list_credentials"],
]


def _usage(draw: Any) -> UsageMetrics:
    return UsageMetrics(
        task_id=draw(NAMES),
        agent_id=draw(NAMES),
        consumer_id=draw(NAMES),
        tokens_in=draw(st.integers(0, 2**63 - 1)),
        tokens_out=draw(st.integers(0, 9)),
        duration_ms=draw(st.integers(0, 9)),
        api_calls=draw(st.integers(0, 9)),
        timestamp=draw(TIMES),
    )


@st.composite
def metering_calls(draw: Any) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    kind = draw(st.sampled_from(METERING_CALLS))
    query = MeteringQuery(
        agent_id=draw(st.none() | NAMES),
        consumer_id=draw(st.none() | NAMES),
        start=draw(MAYBE_TIMES),
        end=draw(MAYBE_TIMES),
        limit=draw(st.none() | st.integers(1, 3)),
        offset=draw(st.integers(0, 2)),
    )
    if kind == "record":
        return ("record", (_usage(draw),), {})
    if kind == "bad record":
        bad = UsageMetrics.model_construct(
            task_id=draw(TEXTISH),
            agent_id=draw(TEXTISH),
            consumer_id="c",
            tokens_in=1,
            tokens_out=draw(st.sampled_from([0, float("nan"), 2**64])),
            duration_ms=0,
            api_calls=0,
            timestamp=BASE,
        )
        return ("record", (bad,), {})
    if kind == "query":
        return ("query", (query,), {})
    if kind == "aggregate":
        group = draw(st.sampled_from(["agent", "consumer", "day", "week", "bogus"]))
        return ("aggregate", (group,), {"filters": draw(st.none() | st.just(query))})
    if kind == "summary":
        return ("summary", (), {"filters": draw(st.none() | st.just(query))})
    return (kind, (), {})


@st.composite
def sla_calls(draw: Any) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    kind = draw(st.sampled_from(SLA_CALLS))
    filters = {"agent_id": draw(st.none() | NAMES), "start": draw(MAYBE_TIMES)}
    if kind == "record_metrics":
        start = draw(TIMES)
        metrics = SLAMetrics(
            agent_id=draw(NAMES),
            period_start=start,
            period_end=start + timedelta(hours=1),
            uptime_percent=draw(st.floats(0, 100)),
            latency_p95_ms=draw(st.integers(0, 2**40)),
            error_rate_percent=draw(st.floats(0, 100)),
            tasks_completed=draw(st.integers(0, 9)),
            tasks_failed=draw(st.integers(0, 9)),
        )
        return (kind, (metrics,), {})
    if kind == "record_breach":
        breach = SLABreach(
            id=draw(NAMES),  # the same id twice: asap's constraint decides
            agent_id=draw(NAMES),
            breach_type=draw(st.sampled_from(["availability", "latency", "error_rate"])),
            threshold="99.5%",
            actual=draw(NAMES),
            severity=draw(st.sampled_from(["warning", "critical"])),
            detected_at=draw(TIMES),
            resolved_at=draw(MAYBE_TIMES),
        )
        return (kind, (breach,), {})
    if kind == "query_metrics":
        limit = draw(st.none() | st.integers(-1, 3))
        return (kind, (), {**filters, "limit": limit, "offset": draw(st.integers(-1, 2))})
    if kind == "stats":
        return (kind, (), {})
    return (kind, (), filters)


@st.composite
def delegation_calls(draw: Any) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    kind = draw(st.sampled_from(DELEGATION_CALLS))
    token = draw(TEXTISH)
    if kind == "register_issued":
        return (kind, (token, draw(TEXTISH)), {"delegate_urn": draw(st.none() | TEXTISH)})
    if kind in ("revoke", "revoke_cascade"):
        return (kind, (token,), {"reason": draw(st.none() | TEXTISH)})
    if kind == "are_revoked":
        return (kind, (draw(st.lists(TEXTISH, max_size=3)),), {})
    return (kind, (token,), {})


@st.composite
def audit_calls(draw: Any) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    kind = draw(st.sampled_from(AUDIT_CALLS))
    if kind == "append":
        entry = AuditEntry(
            id=draw(NAMES),  # the same id twice: the primary key refuses it
            timestamp=draw(TIMES),
            operation=draw(NAMES),
            agent_urn=draw(NAMES),
            details=draw(
                st.sampled_from([{}, {"n": 1}, {"x": float("nan"), "big": 2**70}, {"s": "é"}])
            ),
        )
        return (kind, (entry,), {})
    if kind == "bad append":
        entry = AuditEntry.model_construct(
            id=draw(TEXTISH),
            timestamp=BASE,
            operation=draw(TEXTISH),
            agent_urn="urn",
            details={},
            prev_hash="",
            hash="",
        )
        return ("append", (entry,), {})
    if kind == "query":
        kwargs = {
            "agent_urn": draw(st.none() | NAMES),
            "start": draw(MAYBE_TIMES),
            "end": draw(MAYBE_TIMES),
            "limit": draw(st.integers(-1, 3)),
            "offset": draw(st.integers(-1, 2)),
        }
        return (kind, (), kwargs)
    return (kind, (), {})


@st.composite
def webauthn_calls(draw: Any) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    kind = draw(st.sampled_from(WEBAUTHN_CALLS))
    host = draw(TEXTISH)
    credential = draw(st.sampled_from([b"c1", b"c2", b"", "c1", None, 5]))
    if kind == "save_credential":
        key = draw(st.sampled_from([b"key", b"\x00\xff", None, "k"]))
        return (kind, (host, credential, key, draw(COUNTS)), {})
    if kind == "update_sign_count":
        return (kind, (host, credential, draw(COUNTS)), {})
    if kind == "get_credential":
        return (kind, (host, credential), {})
    return (kind, (host,), {})


CALLS = {
    "metering": metering_calls(),
    "sla": sla_calls(),
    "delegation": delegation_calls(),
    "audit": audit_calls(),
    "webauthn": webauthn_calls(),
}


# ---- outcomes and rows ---------------------------------------------------------------------


def shape(value: Any) -> Any:
    """What a call gave, comparable across the two runs (models and dataclasses by value)."""
    if isinstance(value, BaseModel):
        return (type(value).__name__, shape(value.model_dump()))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, shape(dataclasses.asdict(value)))
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, (list, tuple)):
        return type(value)(shape(item) for item in value)
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return value


async def outcome(store: Any, call: tuple[str, tuple[Any, ...], dict[str, Any]]) -> Any:
    """The call's result, or its exception as (class, message)."""
    name, args, kwargs = call
    try:
        return shape(await getattr(store, name)(*args, **kwargs))
    except Exception as error:
        bound = error.__context__
        if isinstance(error, sqlite3.Error) and isinstance(bound, BINDING_ERRORS):
            # CPython's sqlite3 reports a value it cannot bind as the connection's last SQLite
            # error, if there was one, with the binding error as its context: only asap's
            # persistent ":memory:" connection has such a stale error to show.
            error = bound
        return ("raised", type(error), str(error))


BINDING_ERRORS = (OverflowError, sqlite3.ProgrammingError)


def rows_of(path: str | Path) -> dict[str, Any]:
    """The schema, and every row of every table, of a database file."""
    with closing(sqlite3.connect(path)) as conn:
        schema = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        found: dict[str, Any] = {"schema": schema}
        for kind, name, *_ in schema:
            if kind == "table":
                found[name] = shape(
                    conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
                )
    return found
