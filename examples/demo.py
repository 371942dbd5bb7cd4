"""A short tour of asap_native: persist task snapshots and usage, read them back.

Run with `make demo-tour` (it installs what it needs first).
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asap_native
from asap_native.models import StateSnapshot, UsageEvent, UsageMetrics


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "agent_state.db"
        print(f"database: {db_path}")

        snapshots = asap_native.SQLiteSnapshotStore(db_path)
        started = datetime.now(timezone.utc)
        for step in range(1, 4):
            snapshots.save(
                StateSnapshot(
                    id=f"snap_{step}",
                    task_id="task_demo",
                    version=step,
                    data={
                        "step": step,
                        "status": "working",
                        "notes": ["searched", "ranked"][:step],
                    },
                    checkpoint=step == 3,
                    created_at=started + timedelta(seconds=step),
                )
            )
            print(f"  saved task_demo v{step}")
        latest = snapshots.get("task_demo")
        assert latest is not None and latest.version == 3
        print(f"versions: {snapshots.list_versions('task_demo')}; latest data: {latest.data}")

        metering = asap_native.SQLiteMeteringStore(db_path)  # shares the file

        async def meter() -> None:
            for step in range(1, 4):
                await metering.record(
                    UsageEvent(
                        task_id="task_demo",
                        agent_id="agent_demo",
                        consumer_id="consumer_1",
                        metrics=UsageMetrics(tokens_in=100 * step, tokens_out=20, api_calls=1),
                        timestamp=started + timedelta(seconds=step),
                    )
                )
            events = await metering.query("agent_demo", started, started + timedelta(minutes=1))
            total = await metering.aggregate("agent_demo", "day")
            print(f"usage events: {len(events)}; aggregate: {total}")
            assert len(events) == 3 and total.total_tokens == 660

        asyncio.run(meter())
        snapshots.close()
        metering.close()

        reopened = asap_native.SQLiteSnapshotStore(db_path)
        assert reopened.list_versions("task_demo") == [1, 2, 3]
        print("reopened the file: all 3 versions are there")
        reopened.close()
    print("demo OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
