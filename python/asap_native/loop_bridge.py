"""How awaited store calls get their results back onto the event loop.

The SQLite work of an awaited call runs on threads owned by the C++ core (one writer that
group-commits every queued write, a few readers). Nothing Python runs there. Each finished
request is pushed onto the ``CompletionQueue`` of the loop that asked for it; the queue
signals one file descriptor (an eventfd) only when it goes from empty to non-empty, and the
loop, which watches that descriptor with ``loop.add_reader``, drains every result in one
callback. So the loop wakes once per batch of results, never blocks on SQLite, and no thread
or event loop is created per call.

One bridge exists per event loop (created on first use), so a store works with whichever
loop is running: several loops in sequence, loops in different threads, uvloop.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from typing import Any, Callable

from asap_native import _core
from asap_native.models import snapshot_factory, usage_aggregate_factory, usage_event_factory

__all__ = ["LoopBridge", "bridge_for_running_loop"]


# Results turned into Python objects and handed to their futures per pass of the loop: enough
# to amortize the wake-up, few enough that the woken tasks' steps stay well under a millisecond.
_DRAIN_BATCH = 4


class LoopBridge:
    """The completion queue of one event loop and the futures waiting on it."""

    __slots__ = ("__weakref__", "_futures", "_loop_ref", "queue")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.queue = _core.CompletionQueue(
            snapshot_factory(), usage_event_factory(), usage_aggregate_factory()
        )
        self._futures: dict[int, asyncio.Future[Any]] = {}
        self._loop_ref = weakref.ref(loop)
        loop.add_reader(self.queue.fileno(), self._drain)

    def expect(self, request_id: int) -> asyncio.Future[Any]:
        """A future that the result of ``request_id`` will resolve."""
        loop = self._loop_ref()
        assert loop is not None
        future = loop.create_future()
        self._futures[request_id] = future
        return future

    def _drain(self) -> None:
        futures = self._futures
        results = self.queue.drain(_DRAIN_BATCH)
        if len(results) == _DRAIN_BATCH:
            # More are waiting: take them on the next pass of the loop, so timers and other
            # callbacks run in between and no single pass holds the loop for long.
            loop = self._loop_ref()
            if loop is not None and not loop.is_closed():
                loop.call_soon(self._drain)
        for request_id, ok, value in results:
            future = futures.pop(request_id, None)
            # A cancelled await leaves a done future: its result is dropped.
            if future is None or future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    @property
    def pending(self) -> int:
        """Requests submitted through this loop and not finished yet."""
        return len(self._futures)

    def stats(self) -> dict[str, int]:
        """Batching figures: results pushed, loop wake-ups, drains."""
        return dict(self.queue.stats())


_bridges: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopBridge] = (
    weakref.WeakKeyDictionary()
)
_bridges_lock = threading.Lock()
# The last loop seen (weakly) and its bridge: the common case skips the dictionary lookup.
_last: tuple[Callable[[], Any], LoopBridge | None] = (lambda: None, None)


def bridge_for_running_loop() -> LoopBridge:
    """The bridge of the running loop; RuntimeError when no loop is running."""
    global _last
    loop = asyncio.get_running_loop()
    cached_loop, cached_bridge = _last
    if cached_loop() is loop and cached_bridge is not None:
        return cached_bridge
    with _bridges_lock:
        bridge = _bridges.get(loop)
        if bridge is None:
            bridge = LoopBridge(loop)
            _bridges[loop] = bridge
    _last = (weakref.ref(loop), bridge)
    return bridge


def _forget_bridges_in_child() -> None:
    # A forked child must not share the parent's eventfds or futures.
    global _last, _bridges_lock
    _bridges.clear()
    _last = (lambda: None, None)
    _bridges_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_bridges_in_child)
