"""Smoke test of an installed asap_native wheel: stores, metering, decompression.

Run by `make wheel-test` (a fresh venv with only the wheel installed) and by cibuildwheel's
test-command. Uses nothing but the standard library and asap_native, and must not import the
package from a source checkout: run it from outside the repository (or with the repository's
python/ folder off sys.path, as it is by default).

    python tools/smoke_wheel.py [--expect-sqlite 3.50.4]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import sqlite3
import sys
import tempfile
import zlib
from contextlib import closing
from datetime import datetime, timedelta, timezone

import asap_native
from asap_native import compression
from asap_native.models import StateSnapshot, UsageEvent, UsageMetrics

# brotli.compress(b"asap-native smoke test: brotli", quality=4), made with the brotli package,
# so decompression is checked against another implementation's output, not only our own.
BROTLI_SAMPLE = b"\x8b\x0e\x80asap-native smoke test: brotli\x03"
NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"smoke test FAILED: {what}")
    print(f"ok  {what}")


def snapshot(task: str, version: int, data: dict) -> StateSnapshot:
    return StateSnapshot(id=f"{task}-{version}", task_id=task, version=version, data=data,
                         created_at=NOW)


def stores(folder: str) -> None:
    path = os.path.join(folder, "smoke.db")
    with asap_native.SQLiteSnapshotStore(path) as store:
        for version in (1, 2, 3):
            store.save(snapshot("task", version, {"step": version, "text": "café 東京"}))
        latest = store.get("task")
        check(latest is not None and latest.version == 3 and latest.data["step"] == 3,
              "SQLiteSnapshotStore save/get")
        check(store.list_versions("task") == [1, 2, 3], "SQLiteSnapshotStore list_versions")
        check(store.delete("task", 1) and store.list_versions("task") == [2, 3],
              "SQLiteSnapshotStore delete")

    async def awaited() -> None:
        async with asap_native.SQLiteAsyncSnapshotStore(path) as store:
            await asyncio.gather(*(store.save(snapshot(f"t{i}", 1, {"i": i})) for i in range(64)))
            got = await store.get("t63")
            check(got is not None and got.data == {"i": 63}, "SQLiteAsyncSnapshotStore 64 saves")
        async with asap_native.SQLiteMeteringStore(path) as metering:
            for i in range(3):
                await metering.record(UsageEvent(
                    task_id=f"t{i}", agent_id="agent", consumer_id="user",
                    metrics=UsageMetrics(tokens_in=10, tokens_out=5, duration_ms=7, api_calls=1),
                    timestamp=NOW + timedelta(minutes=i)))
            events = await metering.query("agent", NOW, NOW + timedelta(hours=1))
            total = await metering.aggregate("agent", "day")
            check(len(events) == 3 and total.total_tokens == 45 and total.total_api_calls == 3,
                  "SQLiteMeteringStore record/query/aggregate (json_extract)")

    asyncio.run(awaited())
    # The file is an ordinary SQLite database: the interpreter's own sqlite3 reads it.
    with closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0]
    check(rows == 2 + 64, "database readable by the stdlib sqlite3 module")


def decompression() -> None:
    body = b'{"jsonrpc": "2.0", "params": {"text": "' + b"x" * 100_000 + b'"}}'
    check(compression.decompress_payload(gzip.compress(body), "gzip") == body,
          "gzip decompress (stdlib-compressed input)")
    check(zlib.decompress(compression.compress_gzip(body), wbits=31) == body,
          "gzip compress (stdlib-decompressed output)")
    check(compression.decompress_payload(BROTLI_SAMPLE, "br") == b"asap-native smoke test: brotli",
          "brotli decompress (input from the brotli package)")
    check(compression.decompress_brotli(compression.compress_brotli(body)) == body,
          "brotli round trip")
    try:
        compression.decompress_payload(gzip.compress(body), "gzip", max_size=1000)
    except compression.DecompressionLimitExceededError:
        check(True, "decompression stops at max_size")
    else:
        check(False, "decompression stops at max_size")
    try:
        compression.decompress_payload(b"\x1f\x8b garbage", "gzip")
    except OSError:
        check(True, "corrupt input raises OSError")
    else:
        check(False, "corrupt input raises OSError")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--expect-sqlite", help="the SQLite version the wheel must report")
    args = parser.parse_args()
    print(f"asap_native {asap_native.__version__} from {os.path.dirname(asap_native.__file__)}")
    print(f"SQLite: asap_native {asap_native.sqlite_version}, "
          f"this Python's sqlite3 {sqlite3.sqlite_version}")
    check(asap_native.sqlite_version_info >= (3, 37, 0), "SQLite >= 3.37")
    if args.expect_sqlite:
        check(asap_native.sqlite_version == args.expect_sqlite,
              f"bundled SQLite {args.expect_sqlite}")
    with tempfile.TemporaryDirectory() as folder:
        stores(folder)
    decompression()
    print(f"smoke test passed on Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
