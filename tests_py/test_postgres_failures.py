"""PostgreSQL stores when things go wrong: bad DSNs, wrong passwords, unreachable servers,
statement timeouts, sessions ended under the store, a silent server, a restart under load.

Every failure is a clear StoreError subclass within the store's timeout (never a hang), and the
same store object works again once the server does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _postgres import PASSWORD, Cluster, PgSchema, needs_postgres_build, release
from conftest import make_event, make_snapshot

import asap_native
from asap_native.errors import (
    CannotOpenDatabaseError,
    DatabaseAuthenticationError,
    DatabaseConnectionError,
    DatabaseTimeoutError,
    StoreError,
)

pytestmark = needs_postgres_build

SECRET = "hunter2-secret"


def _raises(call: Callable[[], Any], error: type[BaseException]) -> tuple[BaseException, float]:
    start = time.monotonic()
    with pytest.raises(error) as raised:
        call()
    return raised.value, time.monotonic() - start


# ---- opening ----


@pytest.mark.parametrize(
    "dsn",
    [
        f"host=/tmp {SECRET} port=5432",  # missing "=" after a value
        f"postgresql://asap:{SECRET}@%zz/db",  # bad percent-encoding
        f"host=/tmp password='{SECRET}",  # unterminated quote
        f"postgresql://asap:{SECRET}@host/db?bogus_option=1",
    ],
)
def test_bad_dsn_is_a_value_error_that_quotes_no_value(dsn: str) -> None:
    error, _ = _raises(lambda: asap_native.PostgresSnapshotStore(dsn), ValueError)
    assert "invalid PostgreSQL dsn" in str(error)
    assert SECRET not in str(error)
    assert "hunter2" not in repr(error)


def test_unknown_option_is_named() -> None:
    error, _ = _raises(
        lambda: asap_native.PostgresSnapshotStore("host=/tmp sslmod=require"), ValueError
    )
    assert 'invalid connection option "sslmod"' in str(error)


def test_wrong_password_is_an_authentication_error(pg: PgSchema) -> None:
    for make in (asap_native.PostgresSnapshotStore, asap_native.PostgresMeteringStore):
        error, took = _raises(
            lambda make=make: make(pg.url(password=SECRET)), DatabaseAuthenticationError
        )
        assert isinstance(error, DatabaseConnectionError)
        assert isinstance(error, PermissionError)
        assert isinstance(error, ConnectionError)
        assert isinstance(error, sqlite3.OperationalError)
        assert "password authentication failed" in str(error)
        assert SECRET not in str(error) and PASSWORD not in str(error)
        assert took < 10
    with asap_native.PostgresSnapshotStore(pg.url()) as store:  # the right one works
        store.save(make_snapshot("t", 1))


def test_unreachable_server_fails_fast(pg_cluster: Cluster) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    for dsn in (f"host=127.0.0.1 port={closed_port} user=asap", "host=/nonexistent/dir port=5"):
        error, took = _raises(
            lambda dsn=dsn: asap_native.PostgresSnapshotStore(dsn, timeout=2),
            DatabaseConnectionError,
        )
        assert isinstance(error, ConnectionError)
        assert "cannot connect to PostgreSQL" in str(error)
        assert took < 5


def test_missing_database_cannot_be_opened(pg_cluster: Cluster) -> None:
    error, _ = _raises(
        lambda: asap_native.PostgresSnapshotStore(pg_cluster.dsn("no_such_db")),
        CannotOpenDatabaseError,
    )
    assert "no_such_db" in str(error)


# ---- timeouts ----


def test_statement_timeout_is_a_timeout_error_and_the_store_recovers(pg: PgSchema) -> None:
    store = asap_native.PostgresSnapshotStore(pg.dsn, timeout=0.5)
    metering = asap_native.PostgresMeteringStore(pg.dsn, timeout=0.5)
    store.save(make_snapshot("t", 1))
    locker = pg.hold_lock("snapshots")
    try:
        error, took = _raises(lambda: store.save(make_snapshot("t", 2)), DatabaseTimeoutError)
        assert isinstance(error, TimeoutError)
        assert error.sqlstate == "57014"
        assert "statement timeout" in str(error)
        assert 0.4 < took < 3
        _raises(lambda: store.get("t"), DatabaseTimeoutError)

        async def awaited() -> None:
            start = time.monotonic()
            results = await asyncio.gather(
                *(store.save_async(make_snapshot(f"a{i}", 1)) for i in range(20)),
                return_exceptions=True,
            )
            assert all(isinstance(r, DatabaseTimeoutError) for r in results), results
            assert time.monotonic() - start < 3  # one timeout for the batch, not one per write

        asyncio.run(awaited())
        metering.record_sync(make_event_now())  # another table: not blocked
    finally:
        release(pg, locker)
    store.save(make_snapshot("t", 2))  # the same store, once the lock is gone
    assert store.list_versions("t") == [1, 2]
    assert store.stats()["errors"]["timeout"] >= 22
    store.close()
    metering.close()


def make_event_now() -> Any:
    return make_event("agent")


def test_a_session_ended_in_flight_fails_its_call_and_the_store_reconnects(pg: PgSchema) -> None:
    store = asap_native.PostgresSnapshotStore(pg.dsn, timeout=30)
    store.save(make_snapshot("t", 1))
    locker = pg.hold_lock("snapshots")
    outcome: list[BaseException | None] = []

    def blocked_save() -> None:
        try:
            store.save(make_snapshot("t", 2))
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    try:
        thread = threading.Thread(target=blocked_save)
        thread.start()
        time.sleep(0.5)  # the save waits for the lock
        start = time.monotonic()
        assert pg.terminate_sessions() >= 1
        thread.join(10)
        assert not thread.is_alive()
        assert time.monotonic() - start < 5
        assert isinstance(outcome[0], DatabaseConnectionError), outcome
        assert "lost the connection" in str(outcome[0])
    finally:
        release(pg, locker)
    store.save(make_snapshot("t", 3))  # a new connection
    assert store.list_versions("t") == [1, 3]
    store.close()


def test_sessions_ended_while_idle_are_replaced_unnoticed(pg: PgSchema) -> None:
    async def main() -> None:
        store = asap_native.PostgresSnapshotStore(pg.dsn)
        metering = asap_native.PostgresMeteringStore(pg.dsn)
        await asyncio.gather(*(store.save_async(make_snapshot("t", v)) for v in range(1, 9)))
        store.get("t")
        metering.record_sync(make_event_now())
        assert pg.terminate_sessions() >= 2  # as a server restart would
        # Every kind of call works at once: idle connections the server closed are replaced.
        store.save(make_snapshot("t", 9))
        await store.save_async(make_snapshot("t", 10))
        assert store.get("t").version == 10
        assert (await store.get_async("t", 1)).version == 1
        await metering.record(make_event_now())
        assert (
            len(
                metering.query_sync("agent", make_event_now().timestamp, make_event_now().timestamp)
            )
            == 2
        )
        store.close()
        metering.close()

    asyncio.run(main())


def test_a_silent_server_is_a_lost_connection_within_the_timeout(pg: PgSchema) -> None:
    # A network cut looks like this: the server stops answering. (SIGSTOP on the session's
    # server process; the server's own statement_timeout cannot fire then.)
    store = asap_native.PostgresSnapshotStore(pg.dsn, timeout=0.5, max_connections=1)
    store.save(make_snapshot("t", 1))
    pids = pg.backend_pids()
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        error, took = _raises(lambda: store.get("t"), DatabaseConnectionError)
        assert "no answer from the server" in str(error)
        assert 2 < took < 6  # timeout + 2 s
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert store.get("t").version == 1  # the same store, on a new connection
    store.close()


# ---- a server restart under load ----


def test_server_restart_during_a_64_way_write_load(pg: PgSchema, pg_cluster: Cluster) -> None:
    writers, after_restart = 64, 3

    async def main() -> tuple[set[tuple[int, int]], list[BaseException]]:
        store = asap_native.PostgresAsyncSnapshotStore(pg.dsn, timeout=5)
        sync_store = asap_native.PostgresSnapshotStore(pg.dsn, timeout=5)
        acked: set[tuple[int, int]] = set()
        errors: list[BaseException] = []
        late: list[BaseException] = []
        restarted = asyncio.Event()

        async def writer(task: int) -> None:
            version, done_after = 0, 0
            while done_after < after_restart:
                version += 1
                was_restarted = restarted.is_set()
                try:
                    if task % 8 == 0:  # some writers use the sync API in a thread
                        await asyncio.to_thread(sync_store.save, make_snapshot(f"w{task}", version))
                    else:
                        await store.save(make_snapshot(f"w{task}", version))
                except StoreError as error:
                    errors.append(error)
                    if was_restarted:  # submitted once the server was back: must succeed
                        late.append(error)
                    await asyncio.sleep(0.05)
                    continue
                acked.add((task, version))
                if was_restarted:
                    done_after += 1

        async def restart() -> None:
            while len(acked) < 500:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(pg_cluster.restart)
            restarted.set()

        await asyncio.wait_for(
            asyncio.gather(restart(), *(writer(t) for t in range(writers))), timeout=120
        )
        # The same objects keep working.
        await store.save(make_snapshot("after", 1))
        sync_store.save(make_snapshot("after", 2))
        assert store.stats()["errors"]["connection"] >= 0
        store.close()
        sync_store.close()
        assert not late, f"calls made after the restart failed: {late[:3]}"
        return acked, errors

    acked, errors = asyncio.run(main())
    # Writes in flight at the restart failed with a connection error, nothing else.
    assert errors, "the restart failed no write: it came too late or too early"
    for error in errors:
        assert isinstance(error, DatabaseConnectionError), repr(error)
    stored = {
        tuple(int(x) for x in line.split("|"))
        for line in pg.sql(
            "SELECT substr(task_id, 2), version FROM snapshots WHERE task_id LIKE 'w%'"
        ).split()
    }
    missing = acked - stored
    assert not missing, f"{len(missing)} acknowledged writes lost: {sorted(missing)[:5]}"


# ---- TLS, through the DSN ----


def test_tls_through_the_dsn(pg: PgSchema, tmp_path: Path) -> None:
    root = pg.cluster.root_certificate
    verified = f"{pg.url()}&sslmode=verify-full&sslrootcert={root}"

    async def big_batches(store: Any) -> None:
        # Large group commits over TLS: the non-blocking sends and reads of a pipeline.
        data = {"blob": "x" * 20_000}
        await asyncio.gather(
            *(store.save_async(make_snapshot(f"tls{i % 8}", i + 1, data)) for i in range(300))
        )

    with asap_native.PostgresSnapshotStore(verified) as store:
        asyncio.run(big_batches(store))
        assert len(store.list_versions("tls0")) == 38
        encrypted = pg.cluster.psql(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
            f"WHERE a.application_name = '{pg.name}'"
        )
        assert encrypted == "t"
    wrong_root = tmp_path / "empty.crt"  # trusts nothing
    wrong_root.write_text("")
    for dsn in (
        f"{pg.url()}&sslmode=verify-full&sslrootcert={tmp_path / 'missing.crt'}",
        f"{pg.url()}&sslmode=verify-full&sslrootcert={wrong_root}",
    ):
        error, took = _raises(
            lambda dsn=dsn: asap_native.PostgresSnapshotStore(dsn, timeout=5),
            DatabaseConnectionError,
        )
        assert took < 5
        assert PASSWORD not in str(error)
