"""The package without asap-protocol: it imports, works and returns its own dataclasses.

Runs in a subprocess whose import system refuses ``asap`` (a ``sys.meta_path`` finder raising
ImportError), so the test does not depend on what this environment has installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

BLOCK_ASAP = """
import sys

class BlockAsap:
    def find_spec(self, name, path=None, target=None):
        if name == "asap" or name.startswith("asap."):
            raise ImportError(f"{name} is blocked for this test")
        return None

sys.meta_path.insert(0, BlockAsap())
"""

SCRIPT = """
import asyncio, dataclasses, json
from datetime import datetime, timedelta, timezone

try:
    import asap  # noqa: F401
except ImportError:
    blocked = True
else:
    blocked = False

import asap_native
from asap_native import models

UTC = timezone.utc
T0 = datetime(2024, 5, 17, 8, 0, tzinfo=UTC)
report = {"blocked": blocked, "asap_available": models.asap_available()}

snap = models.StateSnapshot(
    id="snap_1", task_id="task_1", version=1,
    data={"b": 1, "a": [1.5, None, "é"], "when": T0}, checkpoint=True, created_at=T0,
)
for label, store in (
    ("sqlite", asap_native.SQLiteSnapshotStore(DB_PATH)),
    ("sqlite_memory", asap_native.SQLiteSnapshotStore(":memory:")),
    ("memory", asap_native.InMemorySnapshotStore()),
):
    store.save(snap)
    store.save(dataclasses.replace(snap, id="snap_2", version=2, checkpoint=False))
    got = store.get("task_1", 1)
    report[label] = {
        "type": f"{type(got).__module__}.{type(got).__qualname__}",
        "is_dataclass": dataclasses.is_dataclass(got),
        "fields": [got.id, got.task_id, got.version, got.data, got.checkpoint,
                   got.created_at.isoformat()],
        "data_keys": list(got.data),
        "latest": store.get("task_1").version,
        "versions": store.list_versions("task_1"),
        "deleted": store.delete("task_1", 2),
        "missing": store.get("task_1", 2) is None,
        "has_protocol_methods": all(
            callable(getattr(store, name)) for name in ("save", "get", "list_versions", "delete")
        ),
    }
    store.close()

async def metering():
    out = {}
    for label, store in (
        ("sqlite", asap_native.SQLiteMeteringStore(DB_PATH)),
        ("memory", asap_native.InMemoryMeteringStore()),
    ):
        event = models.UsageEvent(
            task_id="t", agent_id="a", consumer_id="c",
            metrics=models.UsageMetrics(tokens_in=3, tokens_out=4, duration_ms=5, api_calls=1),
            timestamp=T0 + timedelta(minutes=30),
        )
        await store.record(event)
        store.record_sync(dataclasses.replace(event, timestamp=datetime(2024, 5, 17, 10, 45,
                                               tzinfo=timezone(timedelta(hours=2)))))
        found = await store.query("a", T0, T0 + timedelta(hours=1))
        total = await store.aggregate("a", "day")
        out[label] = {
            "event_type": f"{type(found[0]).__module__}.{type(found[0]).__qualname__}",
            "metrics_type": type(found[0].metrics).__qualname__,
            "count": len(found),
            "first": [found[0].task_id, found[0].metrics.tokens_in, found[0].timestamp.isoformat()],
            "aggregate_type": f"{type(total).__module__}.{type(total).__qualname__}",
            "aggregate": dataclasses.asdict(total),
            "sync_equal": dataclasses.asdict(store.aggregate_sync("a", "day"))
            == dataclasses.asdict(total),
        }
        store.close()
    return out

report["metering"] = asyncio.run(metering())
import os
os.environ.pop("ASAP_STORAGE_BACKEND", None)
report["factory"] = type(asap_native.create_snapshot_store()).__name__
report["asap_modules_loaded"] = sorted(
    m for m in sys.modules if m == "asap" or m.startswith("asap.")
)
print(json.dumps(report))
"""


def run_without_asap(db_path: Path) -> dict:
    script = BLOCK_ASAP + f"DB_PATH = {str(db_path)!r}\n" + textwrap.dedent(SCRIPT)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, check=False, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_package_works_without_asap(tmp_path: Path) -> None:
    report = run_without_asap(tmp_path / "state.db")
    assert report["blocked"] is True
    assert report["asap_available"] is False
    assert report["asap_modules_loaded"] == []
    for label in ("sqlite", "sqlite_memory", "memory"):
        result = report[label]
        assert result["type"] == "asap_native.models.StateSnapshot", result
        assert result["is_dataclass"] is True
        assert result["fields"] == [
            "snap_1",
            "task_1",
            1,
            {"b": 1, "a": [1.5, None, "é"], "when": "2024-05-17T08:00:00+00:00"},
            True,
            "2024-05-17T08:00:00+00:00",
        ]
        assert result["data_keys"] == ["b", "a", "when"]
        assert result["latest"] == 2
        assert result["versions"] == [1, 2]
        assert result["deleted"] is True and result["missing"] is True
        assert result["has_protocol_methods"] is True
    for label in ("sqlite", "memory"):
        result = report["metering"][label]
        assert result["event_type"] == "asap_native.models.UsageEvent", result
        assert result["metrics_type"] == "UsageMetrics"
        assert result["count"] == 2  # 10:45+02:00 is 08:45Z, inside the window
        assert result["first"] == ["t", 3, "2024-05-17T08:30:00+00:00"]
        assert result["aggregate_type"] == "asap_native.models.UsageAggregate"
        assert result["aggregate"] == {
            "agent_id": "a",
            "period": "day",
            "total_tokens": 14,
            "total_duration": 10,
            "total_tasks": 2,
            "total_api_calls": 2,
        }
        assert result["sync_equal"] is True
    assert report["factory"] == "InMemorySnapshotStore"


def test_file_written_without_asap_is_read_with_asap(tmp_path: Path) -> None:
    db_path = tmp_path / "state.db"
    run_without_asap(db_path)
    from asap.models.entities import StateSnapshot

    import asap_native

    with asap_native.SQLiteSnapshotStore(db_path) as store:
        got = store.get("task_1")
    assert isinstance(got, StateSnapshot)
    assert got.version == 1 and got.checkpoint is True
    assert got.data == {"b": 1, "a": [1.5, None, "é"], "when": "2024-05-17T08:00:00+00:00"}
