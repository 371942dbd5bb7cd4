"""The data models stores accept and return.

When asap-protocol is installed, stores return its own pydantic models
(``asap.models.entities.StateSnapshot``, ``asap.state.metering.UsageEvent``...). Without it
they return the equivalent frozen dataclasses defined here, with the same field names.
Either way, ``save``/``record`` accept any object that has the fields as attributes
(:class:`SnapshotLike`, :class:`UsageEventLike`).

Typing: the stores are generic in the models they return (:data:`SnapshotT`,
:data:`UsageEventT`, :data:`UsageAggregateT`), which default to asap-protocol's models, the
ones they return when asap-protocol is installed. Without it, name this module's instead:
``SQLiteSnapshotStore[asap_native.models.StateSnapshot]("state.db")``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from asap.models.entities import StateSnapshot as AsapStateSnapshot
    from asap.state.metering import UsageAggregate as AsapUsageAggregate
    from asap.state.metering import UsageEvent as AsapUsageEvent
    from typing_extensions import TypeVar

    SnapshotT = TypeVar("SnapshotT", default=AsapStateSnapshot)
    UsageEventT = TypeVar("UsageEventT", default=AsapUsageEvent)
    UsageAggregateT = TypeVar("UsageAggregateT", default=AsapUsageAggregate)
else:
    from typing import TypeVar

    SnapshotT = TypeVar("SnapshotT")
    UsageEventT = TypeVar("UsageEventT")
    UsageAggregateT = TypeVar("UsageAggregateT")

__all__ = [
    "SnapshotLike",
    "SnapshotT",
    "StateSnapshot",
    "UsageAggregate",
    "UsageAggregateT",
    "UsageEvent",
    "UsageEventLike",
    "UsageEventT",
    "UsageMetrics",
    "asap_available",
    "model_factories",
    "snapshot_factory",
    "usage_aggregate_factory",
    "usage_event_factory",
]


@dataclass(frozen=True, kw_only=True)
class StateSnapshot:
    """One saved version of a task's state (mirrors asap's ``StateSnapshot``)."""

    id: str
    task_id: str
    version: int
    data: dict[str, Any]
    checkpoint: bool = False
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class UsageMetrics:
    """Counters of one usage event (mirrors asap's ``UsageMetrics``)."""

    tokens_in: int = 0
    tokens_out: int = 0
    duration_ms: int = 0
    api_calls: int = 0


@dataclass(frozen=True, kw_only=True)
class UsageEvent:
    """One metered unit of work (mirrors asap's ``UsageEvent``)."""

    task_id: str
    agent_id: str
    consumer_id: str
    metrics: UsageMetrics = field(default_factory=UsageMetrics)
    timestamp: datetime


@dataclass(frozen=True, kw_only=True)
class UsageAggregate:
    """Totals over an agent's events (mirrors asap's ``UsageAggregate``)."""

    agent_id: str
    period: str
    total_tokens: int = 0
    total_duration: int = 0
    total_tasks: int = 0
    total_api_calls: int = 0


class SnapshotLike(Protocol):
    """What ``save`` reads from a snapshot: asap's ``StateSnapshot``, or any object with these
    attributes (``checkpoint`` may be missing: False). ``created_at`` may be an ISO-8601 str."""

    @property
    def id(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def data(self) -> Mapping[str, Any]: ...
    @property
    def checkpoint(self) -> bool: ...
    @property
    def created_at(self) -> datetime | str: ...


class UsageEventLike(Protocol):
    """What ``record`` reads from an event: asap's ``UsageEvent``, or any object with these
    attributes. ``metrics`` has the counters as attributes (``UsageMetrics``) or keys (a dict);
    a missing counter is 0. ``timestamp`` may be an ISO-8601 str."""

    @property
    def task_id(self) -> str: ...
    @property
    def agent_id(self) -> str: ...
    @property
    def consumer_id(self) -> str: ...
    @property
    def metrics(self) -> Any: ...
    @property
    def timestamp(self) -> datetime | str: ...


@functools.cache
def asap_available() -> bool:
    """True when asap-protocol can be imported (its models are then returned)."""
    try:
        import asap.models.entities
        import asap.state.metering  # noqa: F401
    except Exception:  # ImportError, or an asap that fails to import on this Python
        return False
    return True


def _direct_builder(cls: Any) -> Callable[[dict[str, Any]], Any] | None:
    """A builder that installs ``fields`` as the new instance's ``__dict__``.

    Rows come from our own table, whose shape the schema guarantees, so they are not
    validated again (as ``model_construct`` would not); this is that method without its
    per-call overhead. Returns None when ``cls`` is not laid out as expected, after checking
    that a built instance equals one made by the class itself.
    """
    new = object.__new__
    set_attribute = object.__setattr__
    pydantic = hasattr(cls, "__pydantic_validator__")
    fields_set = frozenset(getattr(cls, "model_fields", ()))

    def build(fields: dict[str, Any]) -> Any:
        instance = new(cls)
        set_attribute(instance, "__dict__", fields)
        if pydantic:
            set_attribute(instance, "__pydantic_fields_set__", set(fields_set))
            set_attribute(instance, "__pydantic_extra__", None)
            set_attribute(instance, "__pydantic_private__", None)
        return instance

    sample = {
        "id": "snap_check",
        "task_id": "task_check",
        "version": 1,
        "data": {"k": [1]},
        "checkpoint": False,
        "created_at": datetime(2025, 1, 1),
    }
    try:
        built = build(dict(sample))
        if built == cls(**sample) and repr(built) == repr(cls(**sample)):
            return build
    except Exception:  # an unexpected layout: fall back to the validated constructor
        pass
    return None


@functools.cache
def snapshot_factory() -> Callable[[dict[str, Any]], Any]:
    """Callable building the snapshot model from a dict of its fields (asap's when available)."""
    cls: Any = StateSnapshot
    if asap_available():
        from asap.models.entities import StateSnapshot as AsapStateSnapshot

        cls = AsapStateSnapshot
    direct = _direct_builder(cls)
    if direct is not None:
        return direct
    return lambda fields: cls(**fields)


def _checked_event_builder(event_cls: Any, metrics_cls: Any) -> Callable[..., Any] | None:
    """The C++ builder of usage event models (see ``_direct_builder``), or None when an event
    it builds is not equal to one the classes build themselves."""
    from asap_native import _core

    pydantic = hasattr(event_cls, "__pydantic_validator__")
    sample_time = datetime(2025, 1, 1, 12, 30)
    row = ("task_check", "agent_check", "consumer_check", (1, 2, 3, 4), sample_time)
    try:
        builder = _core.UsageEventBuilder(event_cls, metrics_cls, pydantic)
        built = builder(row)
        expected = event_cls(
            task_id="task_check",
            agent_id="agent_check",
            consumer_id="consumer_check",
            metrics=metrics_cls(tokens_in=1, tokens_out=2, duration_ms=3, api_calls=4),
            timestamp=sample_time,
        )
        if built == expected and repr(built) == repr(expected):
            return builder
    except Exception:  # an unexpected layout: fall back to the classes' own constructors
        pass
    return None


@functools.cache
def usage_event_factory() -> Callable[[tuple[Any, ...]], Any]:
    """Callable building a usage event model from a native row tuple (C++ when it can)."""
    if asap_available():
        from asap.state.metering import UsageEvent as AsapEvent
        from asap.state.metering import UsageMetrics as AsapMetrics

        direct = _checked_event_builder(AsapEvent, AsapMetrics)
        event_cls: Any = AsapEvent.model_construct
        metrics_cls: Any = AsapMetrics.model_construct
    else:
        direct = _checked_event_builder(UsageEvent, UsageMetrics)
        event_cls, metrics_cls = UsageEvent, UsageMetrics
    if direct is not None:
        return direct

    def build(row: tuple[Any, ...]) -> Any:
        task_id, agent_id, consumer_id, (tokens_in, tokens_out, duration_ms, api_calls), ts = row
        return event_cls(
            task_id=task_id,
            agent_id=agent_id,
            consumer_id=consumer_id,
            metrics=metrics_cls(
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                duration_ms=duration_ms,
                api_calls=api_calls,
            ),
            timestamp=ts,
        )

    return build


@functools.cache
def usage_aggregate_factory() -> Callable[[tuple[Any, ...]], Any]:
    """Callable building a usage aggregate model from a native row tuple."""
    cls: Any = UsageAggregate
    if asap_available():
        from asap.state.metering import UsageAggregate as AsapAggregate

        cls = AsapAggregate.model_construct

    def build(row: tuple[Any, ...]) -> Any:
        agent_id, period, tokens, duration, tasks, api_calls = row
        return cls(
            agent_id=agent_id,
            period=period,
            total_tokens=tokens,
            total_duration=duration,
            total_tasks=tasks,
            total_api_calls=api_calls,
        )

    return build


def model_factories() -> tuple[
    Callable[[dict[str, Any]], Any],
    Callable[[tuple[Any, ...]], Any],
    Callable[[tuple[Any, ...]], Any],
]:
    """The builders of the snapshot, usage event and usage aggregate models, in that order.

    asap_native hands this function to its C++ core at import; the core calls it once, when it
    builds its first result, so importing asap_native does not import asap-protocol.
    """
    return snapshot_factory(), usage_event_factory(), usage_aggregate_factory()
