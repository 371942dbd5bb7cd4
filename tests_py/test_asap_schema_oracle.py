"""The C++ tests' copy of asap-protocol's DDL (tests_cpp/data) is asap-protocol's own.

The C++ tests create tables with it to check that our stores read and write asap-protocol's
files; this test keeps that oracle from drifting from the asap-protocol installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from asap.state.stores import sqlite as asap_sqlite

DATA = Path(__file__).resolve().parent.parent / "tests_cpp" / "data"


@pytest.mark.parametrize(
    ("file_name", "asap_ddl"),
    [
        ("asap_protocol_snapshots.sql", asap_sqlite._SNAPSHOTS_DDL),
        ("asap_protocol_usage_events.sql", asap_sqlite._USAGE_EVENTS_DDL),
    ],
)
def test_cpp_oracle_is_asap_protocols_ddl(file_name: str, asap_ddl: str) -> None:
    # Only the blank lines around asap's triple-quoted strings are let go.
    assert (DATA / file_name).read_text(encoding="utf-8").strip() == asap_ddl.strip()
