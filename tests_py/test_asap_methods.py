"""asap-protocol's ``AsyncSqliteRepository`` stores (metering, SLA, delegation, audit) and its
WebAuthn store under ``install()``: the same calls give the same results, exceptions and
database rows as asap-protocol as shipped; no aiosqlite connection is opened; and what the
base class promises holds on the native engine: rollback on any exception, the #245 write
lock, ``:memory:`` one database per repository, many writers (tasks and processes), and files
shared with processes running asap-protocol unpatched.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import aiosqlite
import pytest
from _asap_repositories import (
    CALLS,
    INSERT_ONE,
    REPOSITORY_STORES,
    STORES,
    TABLE_OF,
    deterministic,
    outcome,
    rows_of,
)
from _async_helpers import PATIENCE, WriteLock, assert_clean_exit, spawn_python
from asap.economics.audit import AuditEntry
from asap.state.stores._sqlite_base import AsyncSqliteRepository
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import asap_native.integration as native_asap

# Only the repository part: the snapshot/metering store classes are tested elsewhere.
PARTS = {"stores": False, "compression": False, "repository": True}


@pytest.fixture
def installed() -> Iterator[None]:
    native_asap.install(**PARTS)
    try:
        yield
    finally:
        native_asap.uninstall()


@pytest.fixture
def no_aiosqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any aiosqlite connection opened from here on fails the test."""

    monkeypatch.setattr(aiosqlite, "connect", refuse_aiosqlite)


def close_engine(store: Any) -> None:
    """Close the native engine install() gave ``store`` (as dropping the store would)."""
    engine = store.__dict__.get("_asap_native_engine")
    if engine is not None:
        engine.close()


async def run_calls(kind: str, path: str, calls: list[Any]) -> list[Any]:
    store = STORES[kind](path)
    outcomes = []
    try:
        for call in calls:
            outcomes.append(await outcome(store, call))
            await end_stale_transaction(store)
        return outcomes
    finally:
        close_engine(store)
        persistent = getattr(store, "_persistent_conn", None)  # asap's own, for :memory:
        if persistent is not None:
            await persistent.close()


async def end_stale_transaction(store: Any) -> None:
    """asap's ":memory:" connection stays open across calls, so a write that failed leaves
    the transaction sqlite3 began for it open, and the next transaction() fails with "cannot
    start a transaction within a transaction" (an asap-protocol bug: on a file each call has
    a fresh connection). Rolling back that empty transaction compares with asap's intent."""
    persistent = getattr(store, "_persistent_conn", None)
    if persistent is not None and persistent.in_transaction:
        await persistent.rollback()


def refuse_aiosqlite(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"aiosqlite.connect{args!r} after install()")


def both_ways(kind: str, calls: list[Any], directory: Path, *, memory: bool = False) -> None:
    """Run ``calls`` on asap as shipped, then under install() (where opening an aiosqlite
    connection fails the call), each on its own database; the outcomes and the rows left
    must be equal."""
    results = {}
    for side in ("asap", "native"):
        path = ":memory:" if memory else str(directory / f"{side}.db")
        with ExitStack() as stack:
            stack.enter_context(deterministic())
            if side == "native":
                native_asap.install(**PARTS)
                stack.callback(native_asap.uninstall)
                stack.enter_context(mock.patch.object(aiosqlite, "connect", refuse_aiosqlite))
            outcomes = asyncio.run(asyncio.wait_for(run_calls(kind, path, calls), PATIENCE))
        results[side] = (outcomes, None if memory else rows_of(path))
    (asap_outcomes, asap_rows), (native_outcomes, native_rows) = results.values()
    for index, (want, have) in enumerate(zip(asap_outcomes, native_outcomes, strict=True)):
        assert have == want, f"call {index} {calls[index][0]}: native {have!r} != asap {want!r}"
    assert native_rows == asap_rows


# ---- the same calls, with and without install() ----------------------------------------------


@pytest.mark.parametrize("kind", sorted(STORES))
def test_every_public_method_matches_asap_on_a_file(kind: str) -> None:
    @settings(max_examples=examples(30), suppress_health_check=[HealthCheck.too_slow])
    @given(calls=st.lists(CALLS[kind], min_size=3, max_size=16))
    def check(calls: list[Any]) -> None:
        with tempfile.TemporaryDirectory() as directory:
            both_ways(kind, calls, Path(directory))

    check()


# asap's WebAuthn store opens a new connection per call, so on ":memory:" it forgets every
# call's work: under install() it keeps one database, as the repositories do.
@pytest.mark.parametrize("kind", REPOSITORY_STORES)
def test_every_public_method_matches_asap_in_memory(kind: str) -> None:
    @settings(max_examples=examples(15), suppress_health_check=[HealthCheck.too_slow])
    @given(calls=st.lists(CALLS[kind], min_size=3, max_size=16))
    def check(calls: list[Any]) -> None:
        both_ways(kind, calls, Path(), memory=True)

    check()


async def test_a_legacy_delegation_file_is_migrated_as_asap_does(tmp_path: Path) -> None:
    """SQLiteDelegationStorage's own _ensure_schema (a migration) runs on the engine."""
    legacy = (
        "CREATE TABLE issued_delegations (id TEXT PRIMARY KEY, delegator_urn TEXT, created_at TEXT)"
    )
    for side in ("asap", "native"):
        path = tmp_path / f"{side}.db"
        with sqlite3.connect(path) as conn:
            conn.execute(legacy)
            conn.execute("INSERT INTO issued_delegations VALUES ('t1', 'urn:a', '2024-01-01')")
        conn.close()
        if side == "native":
            native_asap.install(**PARTS)
        try:
            store = STORES["delegation"](str(path))
            await store.register_issued("t2", "urn:a", "urn:b")
            assert await store.list_token_ids_issued_by("urn:a") == ["t1", "t2"]
            assert await store.get_delegate("t2") == "urn:b"
            close_engine(store)
        finally:
            native_asap.uninstall()
    assert rows_of(tmp_path / "native.db")["schema"] == rows_of(tmp_path / "asap.db")["schema"]


# ---- under install(): what the base class promises -------------------------------------------


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize("where", ["file", ":memory:"])
@pytest.mark.parametrize("kind", REPOSITORY_STORES)
async def test_transaction_rolls_back_on_any_exception(
    kind: str, where: str, tmp_path: Path
) -> None:
    store = STORES[kind](str(tmp_path / "s.db") if where == "file" else ":memory:")
    count = f"SELECT count(*) FROM {TABLE_OF[kind]}"

    async def insert(*ids: str, sees: int = 0, then: BaseException | None = None) -> None:
        async with store.transaction() as conn:
            for row_id in ids:
                await conn.execute(INSERT_ONE[kind], (row_id,))
            cursor = await conn.execute(count)
            assert await cursor.fetchone() == (sees,)  # the transaction sees its own writes
            if then is not None:
                raise then

    await insert("kept", sees=1)
    for error in (ValueError("boom"), asyncio.CancelledError(), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            await insert("lost", sees=2, then=error)
        assert await store.fetch_one(count) == (1,)
    with pytest.raises(sqlite3.IntegrityError):  # a failing statement: all of it undone
        await insert("lost", "kept")
    assert await store.fetch_all(f"SELECT id FROM {TABLE_OF[kind]}") == [("kept",)]
    close_engine(store)


@pytest.mark.parametrize("side", ["asap", "native"])
async def test_execute_cannot_slip_into_a_transaction_being_set_up(
    side: str, tmp_path: Path
) -> None:
    """asap issue #245: an execute() issued after transaction() was entered, before its
    BEGIN IMMEDIATE, commits after the transaction, and the transaction never sees it."""
    if side == "native":
        native_asap.install(**PARTS)
    try:
        store = STORES["delegation"](str(tmp_path / "d.db"))
        await store.register_issued("root", "urn:a", "urn:b")
        seen: list[Any] = []
        in_transaction = asyncio.Event()

        async def cascade() -> None:
            async with store.transaction() as conn:
                in_transaction.set()
                for _ in range(20):  # let the other task run as far as it can
                    await asyncio.sleep(0)
                assert not child.done()  # waiting for this transaction
                cursor = await conn.execute("SELECT id FROM issued_delegations ORDER BY id")
                seen.extend(await cursor.fetchall())
                await conn.execute("INSERT INTO revocations VALUES ('root', 'now', NULL)")

        async def issue_child() -> None:
            await in_transaction.wait()
            await store.register_issued("child", "urn:b", None)

        task = asyncio.create_task(cascade())
        child = asyncio.create_task(issue_child())
        await asyncio.wait_for(asyncio.gather(task, child), PATIENCE)
        assert seen == [("root",)]
        assert await store.list_token_ids_issued_by("urn:b") == ["child"]
        close_engine(store)
    finally:
        native_asap.uninstall()


@pytest.mark.usefixtures("installed")
async def test_execute_inside_its_own_transaction_raises_instead_of_hanging(
    tmp_path: Path,
) -> None:
    """asap's write lock is not reentrant: the same call there waits forever."""
    store = STORES["delegation"](str(tmp_path / "d.db"))
    async with store.transaction():
        with pytest.raises(RuntimeError, match="own transaction"):
            await store.revoke("t")
    assert await store.is_revoked("t") is False
    close_engine(store)


@pytest.mark.usefixtures("installed", "no_aiosqlite")
@pytest.mark.parametrize("kind", REPOSITORY_STORES)
async def test_memory_is_one_database_per_store(kind: str) -> None:
    first, second = STORES[kind](":memory:"), STORES[kind](":memory:")
    count = f"SELECT count(*) FROM {TABLE_OF[kind]}"
    await first.execute(INSERT_ONE[kind], ("one",))
    async with first.transaction() as conn:
        await conn.execute(INSERT_ONE[kind], ("two",))
    assert await first.fetch_one(count) == (2,)
    assert await second.fetch_one(count) == (0,)
    close_engine(first)
    close_engine(second)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.mark.same_sqlite_in_process
@pytest.mark.usefixtures("installed")
async def test_concurrent_executes_are_group_committed(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    store = STORES["delegation"](str(path))
    await store.revoke("warm")
    with WriteLock(path):
        tasks = [asyncio.create_task(store.revoke(f"t{n}")) for n in range(50)]
        await asyncio.sleep(0)  # all 50 submitted while the writer cannot commit
    await asyncio.wait_for(asyncio.gather(*tasks), PATIENCE)
    assert await store.are_revoked([f"t{n}" for n in range(50)]) == {
        f"t{n}": True for n in range(50)
    }
    engine = store.__dict__["_asap_native_engine"]
    engine.close()  # figures are final once closed
    # At most two transactions took the 50: the one stuck on the lock, and the rest.
    assert engine.stats()["group_commit"]["largest_batch"] >= 25


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize("where", ["file", ":memory:"])
async def test_many_tasks_write_at_once(where: str, tmp_path: Path) -> None:
    path = str(tmp_path / "s.db") if where == "file" else ":memory:"
    audit, delegation = STORES["audit"](path), STORES["delegation"](path)
    writers = 64

    async def one(n: int) -> None:
        await delegation.register_issued(f"t{n:03d}", "urn:many")
        await audit.append(AuditEntry(timestamp=_now(), operation=f"op{n}", agent_urn="u"))

    await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(writers))), PATIENCE)
    issued = await delegation.list_token_ids_issued_by("urn:many")
    assert sorted(issued) == [f"t{n:03d}" for n in range(writers)]
    assert await audit.count() == writers
    assert await audit.verify_chain()  # one linear chain: asap's append lock still holds
    close_engine(audit)
    close_engine(delegation)


@pytest.mark.usefixtures("installed")
async def test_a_users_own_subclass_runs_natively(tmp_path: Path, no_aiosqlite: None) -> None:
    class Notes(AsyncSqliteRepository):
        def __init__(self, path: str) -> None:
            super().__init__(path, schema_ddl="CREATE TABLE IF NOT EXISTS notes(n INTEGER);")

        async def add(self, n: int) -> int:
            return await self.execute("INSERT INTO notes VALUES (?)", (n,))

    notes = Notes(str(tmp_path / "n.db"))
    assert await notes.add(1) == 1
    async with notes._connect() as conn:
        conn.row_factory = aiosqlite.Row
        cursor = await conn.execute("SELECT n FROM notes")
        row = await cursor.fetchone()
        assert (row["n"], tuple(row)) == (1, (1,))
        await conn.execute("INSERT INTO notes VALUES (2)")
        assert conn.in_transaction  # sqlite3's implicit transaction, not yet committed
    assert await notes.fetch_all("SELECT n FROM notes") == [(1,)]  # closed: rolled back
    close_engine(notes)


# ---- several processes, patched and not, on one file -----------------------------------------

WRITER = """
import asyncio, sys
from _asap_repositories import STORES
from asap.economics.audit import AuditEntry
from datetime import datetime, timezone

path, name, native, rows = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
if native:
    import asap_native.integration
    asap_native.integration.install(stores=False, compression=False)
    import aiosqlite
    def refuse(*args, **kwargs):
        raise AssertionError("aiosqlite.connect after install()")
    aiosqlite.connect = refuse

async def main():
    sys.stdin.readline()  # start together
    delegation, webauthn = STORES["delegation"](path), STORES["webauthn"](path)
    for n in range(rows):
        await delegation.register_issued(f"{name}-{n:03d}", "urn:" + name)
        await webauthn.save_credential(name, n.to_bytes(2, "big"), b"key", n)
    async with delegation.transaction() as conn:
        await conn.execute("INSERT INTO revocations VALUES (?, 'now', 'done')", (name,))
    print(len(await delegation.list_token_ids_issued_by("urn:" + name)),
          len(await webauthn.list_credentials(name)), flush=True)

asyncio.run(main())
"""


def test_processes_with_and_without_install_share_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    rows = 40
    writers = {"native1": True, "native2": True, "asap1": False, "asap2": False}
    children = {
        name: spawn_python(WRITER, path, name, "1" if native else "0", str(rows))
        for name, native in writers.items()
    }
    for child in children.values():
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for name, child in children.items():
        out, err = child.communicate(timeout=PATIENCE)
        result = type("Done", (), {"returncode": child.returncode, "stdout": out, "stderr": err})
        assert_clean_exit(result)  # type: ignore[arg-type]
        assert out.split() == [str(rows), str(rows)], name
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        issued = conn.execute("SELECT delegator_urn, count(*) FROM issued_delegations GROUP BY 1")
        assert dict(issued.fetchall()) == {f"urn:{name}": rows for name in writers}
        revoked = conn.execute("SELECT id FROM revocations ORDER BY id").fetchall()
        assert revoked == [(name,) for name in sorted(writers)]
    conn.close()


async def test_a_memory_store_used_before_install_keeps_its_data() -> None:
    store = STORES["audit"](":memory:")
    await store.append(AuditEntry(timestamp=_now(), operation="before", agent_urn="u"))
    native_asap.install(**PARTS)
    try:
        await store.append(AuditEntry(timestamp=_now(), operation="after", agent_urn="u"))
        assert [entry.operation for entry in await store.query()] == ["before", "after"]
        assert await store.verify_chain()
        close_engine(store)
    finally:
        native_asap.uninstall()
        await store._persistent_conn.close()
