"""What the benchmark modules share: their target checks, the progress callback, the snapshot
model and builder, and where their temporary databases go.

The compression bombs and the event-loop lag monitor are the test suite's own
(``tests_py/_bombs.py``, ``tests_py/_async_helpers.py``), imported from there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

# ``progress(fraction, message)``, fraction 0..1 (run.Progress accepts more forms).
Progress = Callable[..., Any]

CREATED_AT = datetime(2025, 1, 1, tzinfo=timezone.utc)


def no_progress(*_args: Any, **_kwargs: Any) -> None:
    """The progress callback of a module run without one."""


def temp_parent() -> str | None:
    """The folder for the benchmarks' databases: $ASAP_BENCH_TMPDIR, else the system's.

    They belong on a disk-backed filesystem like a real deployment's, not tmpfs:
    durability="full" must pay for real fsyncs.
    """
    return os.environ.get("ASAP_BENCH_TMPDIR") or None


def snapshot_model() -> Callable[..., Any]:
    """asap-protocol's StateSnapshot, or asap_native's own when asap-protocol does not import."""
    try:
        from asap.models.entities import StateSnapshot
    except Exception:
        import asap_native

        return asap_native.StateSnapshot
    return StateSnapshot


def make_snapshots(model: Callable[..., Any], task: str, count: int, data: dict) -> list[Any]:
    """Versions 1..count of ``task``, all holding ``data``."""
    return [
        model(
            id=f"snap-{task}-{v}",
            task_id=task,
            version=v,
            data=data,
            checkpoint=False,
            created_at=CREATED_AT,
        )
        for v in range(1, count + 1)
    ]


@dataclasses.dataclass
class Check:
    """A target check: what was measured beside its target. run.py prints and charts them."""

    name: str
    value: float | None  # None when it could not be measured
    target: str  # ">= 1.20", "<= 1.20", "< 1"; anything else is not a target ("(info)")
    passed: bool | None  # None: not measured, or not a target
    # The same ratio with the raw C++ store in asap_native's place: what a binding with no
    # cost at all would reach, which shows whether the target is reachable on this machine.
    ceiling: float | None = None
    # "x": value is a ratio (of times or rates, as the name says); otherwise value is a
    # measurement in this unit and the target its limit.
    unit: str = "x"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
