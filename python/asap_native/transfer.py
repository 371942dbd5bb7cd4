"""Moving snapshots and usage events between a SQLite file and PostgreSQL, both ways.

    python -m asap_native.transfer to-postgres asap_state.db [DSN]
    python -m asap_native.transfer to-sqlite [DSN] asap_state.db

``DSN`` defaults to ``ASAP_STORAGE_URL`` (better than a password on the command line, which
other users of the machine can see). Or from Python::

    from asap_native.transfer import copy_sqlite_to_postgres
    copy_sqlite_to_postgres("asap_state.db", "postgresql://agent@db.internal/asap")

Each copy is all or nothing (one transaction on the receiving side, one consistent read on the
sending side) and can be run again: a snapshot of the same task and version is replaced (as
``save`` does), a usage event whose id is already there is skipped. Snapshot ``data`` and
``created_at`` keep their text byte for byte both ways; usage events keep their ids, timestamps
and order (their metrics come back from PostgreSQL as jsonb spells them: same counters, keys
reordered). The SQLite file can be asap-protocol's or asap_native's (the same tables). See
docs/scaling.md for moving a running fleet.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NamedTuple

from asap_native import _core

__all__ = ["TransferCounts", "copy_postgres_to_sqlite", "copy_sqlite_to_postgres", "main"]

DEFAULT_TIMEOUT = 60.0


class TransferCounts(NamedTuple):
    """Rows copied."""

    snapshots: int
    usage_events: int


def copy_sqlite_to_postgres(
    db_path: str | os.PathLike[str], dsn: str, *, timeout: float = DEFAULT_TIMEOUT
) -> TransferCounts:
    """Copy every snapshot and usage event of the SQLite file ``db_path`` into PostgreSQL.

    The PostgreSQL tables are created if missing. ``timeout`` bounds each wait on the server.

    Raises:
        FileNotFoundError: ``db_path`` does not exist.
        asap_native.errors.StoredDataError: a row PostgreSQL cannot hold (a ``created_at`` that
            is not ISO-8601, metrics that are not JSON, text that is not UTF-8); named in the
            message, and nothing is copied. Snapshot data that jsonb cannot hold (NaN, ``\\u0000``)
            is copied, with its jsonb column NULL.
        asap_native.errors.StoreError: the server failed (connection, authentication...).
    """
    return TransferCounts(*_core.copy_sqlite_to_postgres(db_path, dsn, float(timeout)))


def copy_postgres_to_sqlite(
    dsn: str, db_path: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT
) -> TransferCounts:
    """Copy every snapshot and usage event of PostgreSQL into the SQLite file ``db_path``
    (created, readable by its owner only, with its tables, if missing)."""
    return TransferCounts(*_core.copy_postgres_to_sqlite(dsn, db_path, float(timeout)))


def _dsn(given: str | None) -> str:
    dsn = given or os.environ.get("ASAP_STORAGE_URL", "")
    if not dsn:
        raise SystemExit("no DSN given and ASAP_STORAGE_URL is not set")
    return dsn


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module's docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m asap_native.transfer",
        description="Copy asap snapshots and usage events between SQLite and PostgreSQL.",
    )
    sub = parser.add_subparsers(dest="direction", required=True)
    to_pg = sub.add_parser("to-postgres", help="SQLite file -> PostgreSQL")
    to_pg.add_argument("db_path")
    to_pg.add_argument("dsn", nargs="?", help="default: $ASAP_STORAGE_URL")
    to_sqlite = sub.add_parser("to-sqlite", help="PostgreSQL -> SQLite file")
    to_sqlite.add_argument("dsn", nargs="?", help="default: $ASAP_STORAGE_URL")
    to_sqlite.add_argument("db_path")
    for command in (to_pg, to_sqlite):
        command.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    args = parser.parse_args(argv)
    dsn = _dsn(args.dsn)
    where = _core.postgres_describe_dsn(dsn)
    if args.direction == "to-postgres":
        counts = copy_sqlite_to_postgres(args.db_path, dsn, timeout=args.timeout)
        print(
            f"copied {counts.snapshots} snapshots and {counts.usage_events} usage events "
            f"from {args.db_path} to PostgreSQL ({where})"
        )
    else:
        counts = copy_postgres_to_sqlite(dsn, args.db_path, timeout=args.timeout)
        print(
            f"copied {counts.snapshots} snapshots and {counts.usage_events} usage events "
            f"from PostgreSQL ({where}) to {args.db_path}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
