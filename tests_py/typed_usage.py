"""Every public API of asap_native as a typed user calls it, checked by ``mypy --strict``
(``make lint``): the types a user sees are the ones pinned with ``assert_type`` here. It also
runs (``test_typed_usage.py``), so it cannot drift from what the package does."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from asap.models.entities import StateSnapshot
from asap.state.metering import UsageAggregate, UsageEvent, UsageMetrics
from typing_extensions import assert_type

import asap_native
import asap_native.integration
from asap_native import compression, models
from asap_native.figures import StoreFigures

NOW = datetime(2024, 5, 17, 8, 0, tzinfo=timezone.utc)


def snapshot(version: int) -> StateSnapshot:
    return StateSnapshot(
        id=f"snap_{version}", task_id="task", version=version, data={"v": version}, created_at=NOW
    )


def event() -> UsageEvent:
    return UsageEvent(
        task_id="task",
        agent_id="agent",
        consumer_id="consumer",
        metrics=UsageMetrics(tokens_in=1, tokens_out=2, duration_ms=3, api_calls=4),
        timestamp=NOW,
    )


def sync_api(folder: Path) -> None:
    with asap_native.SQLiteSnapshotStore(folder / "s.db", durability="full", timeout=5.0) as store:
        store.save(snapshot(1))
        assert_type(store.get("task"), StateSnapshot | None)
        assert_type(store.get("task", 1), StateSnapshot | None)
        assert_type(store.list_versions("task"), list[int])
        assert_type(store.delete("task", 1), bool)
        assert_type(store.db_path, Path)
        assert_type(store.stats(), StoreFigures)
        assert_type(store.closed, bool)
    memory = asap_native.InMemorySnapshotStore()
    memory.save(snapshot(1))
    assert_type(memory.get("task"), StateSnapshot | None)
    memory.close()
    factory_store = asap_native.create_snapshot_store()
    factory_store.close()
    # Without asap-protocol, name the package's own models.
    plain = asap_native.SQLiteSnapshotStore[models.StateSnapshot](":memory:")
    assert_type(plain.get("task"), models.StateSnapshot | None)
    plain.close()


async def async_api(folder: Path) -> None:
    async with asap_native.SQLiteAsyncSnapshotStore(folder / "a.db") as store:
        await store.save(snapshot(1))
        assert_type(await store.get("task"), StateSnapshot | None)
        assert_type(await store.list_versions("task"), list[int])
        assert_type(await store.delete("task"), bool)
    both = asap_native.SQLiteSnapshotStore(folder / "a.db")
    await both.save_async(snapshot(2))
    assert_type(await both.get_async("task", 2), StateSnapshot | None)
    assert_type(await both.list_versions_async("task"), list[int])
    assert_type(await both.delete_async("task", 2), bool)
    both.close()
    memory = asap_native.AsyncInMemorySnapshotStore()
    await memory.save(snapshot(1))
    assert_type(await memory.get("task"), StateSnapshot | None)
    factory_store = asap_native.create_async_snapshot_store("sqlite", db_path=folder / "f.db")
    factory_store.close()

    async with asap_native.SQLiteMeteringStore(folder / "m.db") as meter:
        await meter.record(event())
        meter.record_sync(event())
        assert_type(await meter.query("agent", NOW, NOW), list[UsageEvent])
        assert_type(await meter.query("agent", NOW, NOW, limit=1, offset=1), list[UsageEvent])
        assert_type(meter.query_sync("agent", NOW, NOW), list[UsageEvent])
        total = await meter.aggregate("agent", "day")
        assert_type(total, UsageAggregate)
        assert_type(meter.aggregate_sync("agent", "day"), UsageAggregate)
        assert total.total_tokens == 6
    in_memory_meter = asap_native.InMemoryMeteringStore()
    await in_memory_meter.record(event())
    assert_type(await in_memory_meter.aggregate("agent", "day"), UsageAggregate)


def errors_api(folder: Path) -> None:
    try:
        asap_native.SQLiteSnapshotStore(folder / "missing" / "x.db")
    except FileNotFoundError as error:
        assert isinstance(error, asap_native.CannotOpenDatabaseError)
    errors: tuple[type[asap_native.StoreError], ...] = (
        asap_native.DatabaseLockedError,
        asap_native.ReadOnlyDatabaseError,
        asap_native.NotADatabaseError,
        asap_native.DatabaseIOError,
        asap_native.StoreClosedError,
        asap_native.StoredDataError,
    )
    assert all(issubclass(e, asap_native.StoreError) for e in errors)
    logging.getLogger("asap_native").setLevel(logging.WARNING)


def compression_api() -> None:
    body = b'{"jsonrpc": "2.0"}' * 100
    packed = compression.compress_payload(body, compression.CompressionAlgorithm.GZIP)
    assert_type(packed, tuple[bytes, compression.CompressionAlgorithm])
    assert_type(compression.decompress_payload(packed[0], "gzip", max_size=1 << 20), bytes)
    assert_type(compression.compress_gzip(body), bytes)
    assert_type(compression.decompress_gzip(compression.compress_gzip(body)), bytes)
    assert_type(compression.compress_brotli(body), bytes)
    assert_type(compression.decompress_brotli(compression.compress_brotli(body)), bytes)
    assert_type(compression.get_supported_encodings(), list[str])
    assert_type(compression.get_accept_encoding_header(), str)
    assert_type(compression.select_best_encoding("br, gzip"), compression.CompressionAlgorithm)
    assert_type(compression.stats(), dict[str, Any])
    try:
        compression.decompress_payload(compression.compress_gzip(body), "gzip", max_size=10)
    except compression.DecompressionLimitExceededError as error:
        assert_type(error.max_size, int)


def integration_api() -> None:
    replaced = asap_native.integration.install()
    assert_type(replaced, list[str])
    assert_type(asap_native.integration.installed(), frozenset[str])
    asap_native.integration.uninstall()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        sync_api(Path(folder))
        asyncio.run(async_api(Path(folder)))
        errors_api(Path(folder))
    compression_api()
    integration_api()


if __name__ == "__main__":
    main()
