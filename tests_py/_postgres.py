"""A throwaway PostgreSQL cluster for the tests (fixtures ``pg_cluster`` and ``pg``).

``pg_cluster`` (session): Debian's PostgreSQL started by tools/pg_cluster.py (initdb into a
temporary folder as an unprivileged user, the Unix socket in that folder, a free port, fsync on),
stopped when the session ends. ``ASAP_TEST_POSTGRES_DIR`` reuses a cluster already started there
(``tools/pg_cluster.py start --dir DIR``). Without PostgreSQL's programs the PostgreSQL tests are
skipped, unless ``ASAP_REQUIRE_POSTGRES=1`` (make test sets it), which makes that an error.

``pg`` (each test): a schema of the test's own; its ``dsn`` (Unix socket) and ``url`` (TCP,
password) set ``search_path`` to it and ``application_name`` to its name, so a test can find and
end its own sessions. ``schema_for(path)`` gives the generic store tests (conftest's "postgres"
kind) a schema per database path: two stores opened on one path share their data, as two
SQLite stores on one file do.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

import asap_native

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from pg_cluster import PASSWORD, SUPERUSER, Cluster, postgres_bin

sys.path.pop(0)

__all__ = [
    "PASSWORD",
    "SUPERUSER",
    "Cluster",
    "PgSchema",
    "needs_postgres_build",
    "pg",
    "pg_cluster",
    "release",
    "schema_for",
    "session_cluster",
]

# The mark of the PostgreSQL tests: a build without libpq has no PostgreSQL stores to test.
needs_postgres_build = pytest.mark.skipif(
    not asap_native.postgres_available, reason="built without PostgreSQL"
)

_lock = threading.Lock()
_cluster: Cluster | None = None


def session_cluster() -> Cluster:
    """The cluster of this test session, started on first use and stopped at exit (skips the
    test when PostgreSQL is not installed and not required)."""
    global _cluster
    with _lock:
        if _cluster is not None:
            return _cluster
        existing = os.environ.get("ASAP_TEST_POSTGRES_DIR")
        if existing:
            _cluster = Cluster.attach(existing)
            return _cluster
        try:
            postgres_bin()
        except RuntimeError as error:
            if os.environ.get("ASAP_REQUIRE_POSTGRES") == "1":
                raise
            pytest.skip(str(error))
        cluster = Cluster.start()
        atexit.register(cluster.stop)
        _cluster = cluster
        return cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    cluster = session_cluster()
    yield cluster
    if not os.environ.get("ASAP_TEST_POSTGRES_DIR"):
        # Stopped with the session, not at exit, so that nothing outlives pytest's output.
        global _cluster
        with _lock:
            cluster.stop()
            atexit.unregister(cluster.stop)
            _cluster = None


@dataclass
class PgSchema:
    """One test's schema on the session's cluster."""

    cluster: Cluster
    name: str

    @property
    def dsn(self) -> str:
        """key=value DSN over the Unix socket (no password needed)."""
        return self.cluster.dsn(options=f"-csearch_path={self.name}", application_name=self.name)

    def url(self, password: str | None = PASSWORD) -> str:
        """postgresql:// URL over TCP with password authentication."""
        return (
            self.cluster.url(password=password)
            + f"?options={quote(f'-csearch_path={self.name}')}&application_name={self.name}"
        )

    def sql(self, statement: str) -> str:
        """Runs SQL in this schema (psql); its unaligned output."""
        return self.cluster.psql(
            statement, options=f"-csearch_path={self.name}", application_name="psql"
        )

    def sessions(self) -> int:
        """Sessions the test's stores have open."""
        return int(
            self.cluster.psql(
                f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{self.name}'"
            )
        )

    def backend_pids(self) -> list[int]:
        out = self.cluster.psql(
            f"SELECT pid FROM pg_stat_activity WHERE application_name = '{self.name}'"
        )
        return [int(line) for line in out.split()]

    def terminate_sessions(self) -> int:
        """Ends the test's sessions, as a server restart would; how many there were."""
        return int(
            self.cluster.psql(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                f"WHERE application_name = '{self.name}'"
            )
        )

    def hold_lock(self, table: str, seconds: float = 30.0) -> subprocess.Popen[str]:
        """A psql session that locks ``table`` (ACCESS EXCLUSIVE) until it is killed or
        ``seconds`` pass; returns once the lock is held."""
        process = subprocess.Popen(
            [
                str(postgres_bin() / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.cluster.dsn(
                    options=f"-csearch_path={self.name}", application_name=f"lock_{self.name}"
                ),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"},
        )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(
            f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; \\echo locked\n"
            f"SELECT pg_sleep({seconds}); COMMIT;\n"
        )
        process.stdin.flush()
        line = process.stdout.readline()
        assert line.strip() == "locked", line
        return process


@pytest.fixture
def pg(pg_cluster: Cluster) -> Iterator[PgSchema]:
    schema = PgSchema(pg_cluster, "t_" + uuid.uuid4().hex[:12])
    pg_cluster.psql(f"CREATE SCHEMA {schema.name}")
    try:
        yield schema
    finally:
        pg_cluster.psql(f"DROP SCHEMA IF EXISTS {schema.name} CASCADE")


def schema_for(path: str | os.PathLike[str]) -> PgSchema:
    """The schema standing for database ``path`` (created on first use)."""
    digest = hashlib.sha1(os.fsencode(os.path.abspath(path))).hexdigest()[:16]
    schema = PgSchema(session_cluster(), f"p_{digest}")
    schema.cluster.psql(f"CREATE SCHEMA IF NOT EXISTS {schema.name}")
    return schema


def release(pg: PgSchema, process: subprocess.Popen[str]) -> None:
    """Ends a hold_lock() session: its transaction rolls back and the lock is gone on return
    (the server process is ended too: asleep in pg_sleep, it would not notice psql go)."""
    process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()
    pg.cluster.psql(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
        f"WHERE application_name = 'lock_{pg.name}'"
    )
