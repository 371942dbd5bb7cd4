"""How awaited store calls get their results back onto the event loop.

The SQLite work of an awaited call runs on threads owned by the C++ core (one writer that
group-commits every queued write, a few readers). Nothing Python runs there. Each finished
call is pushed onto the ``CompletionQueue`` of the loop that asked for it; the queue keeps
one file descriptor (an eventfd) readable exactly while it holds finished calls, and the loop,
which watches that descriptor with ``loop.add_reader``, hands a few results to their futures
per pass. So the loop wakes once per batch of results, never blocks on SQLite, and no thread
or event loop is created per call.

No failure on this path can leave an await hanging or lose a result. A result that cannot be
turned into a Python object (a stored row that is not valid JSON, say) fails its own future
with that error, and only it. If handing results over fails part-way (out of memory), the
queue takes back what was not handed over and stays readable, so the next pass of the loop
resumes. A future that was cancelled meanwhile just drops its result.

One bridge exists per event loop (created on first use), so a store works with whichever
loop is running: several loops in sequence, loops in different threads, uvloop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from asap_native import _core

__all__ = ["LoopBridge", "Queued", "bridge_for_running_loop", "call_queued"]

ResultT = TypeVar("ResultT")


class Queued(int, Generic[ResultT]):
    """The id of a queued native call whose result is a ``ResultT``: what type checkers see of
    the plain int a native ``*_queued`` call returns (no instance is ever made)."""


_log = logging.getLogger("asap_native")

# Results turned into Python objects and handed to their futures per pass of the loop: enough
# to amortize the wake-up, few enough that the woken tasks' steps stay well under a millisecond.
_DRAIN_BATCH = 4


class LoopBridge:
    """The completion queue of one event loop and the futures waiting on it."""

    __slots__ = ("__weakref__", "_futures", "_loop_ref", "_taken", "queue")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.queue = _core.CompletionQueue()
        self._futures: dict[int, asyncio.Future[Any]] = {}
        # Results taken from the queue and not yet handed to their futures.
        self._taken: collections.deque[tuple[int, bool, Any]] = collections.deque()
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
        taken = self._taken
        if not taken:
            try:
                taken.extend(self.queue.drain(_DRAIN_BATCH))
            except Exception:
                # Nothing was lost: the queue kept what it could not hand over and is still
                # readable, so the loop calls this again on its next pass.
                _log.exception("asap_native: handing store results to the event loop failed")
                return
        try:
            while taken:
                self._resolve(*taken.popleft())
        finally:
            if taken:  # an exception (KeyboardInterrupt...) left results behind
                loop = self._loop_ref()
                if loop is not None and not loop.is_closed():
                    loop.call_soon(self._drain)

    def _resolve(self, request_id: int, ok: bool, value: Any) -> None:
        future = self._futures.pop(request_id, None)
        # A cancelled await leaves a done future: its result is dropped.
        if future is None or future.done():
            return
        try:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        except Exception as error:
            # The await must still end: with the error that stopped its result, if the future
            # takes anything at all (it does not once its loop is closed: nobody is waiting).
            try:
                future.set_exception(error)
            except Exception:
                _log.debug("asap_native: dropped the result of call %d", request_id, exc_info=True)

    @property
    def pending(self) -> int:
        """Calls submitted through this loop and not finished yet."""
        return len(self._futures)

    def stats(self) -> dict[str, int]:
        """Batching figures: results pushed, loop wake-ups, drains, results waiting."""
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


def call_queued(submit: Callable[..., Queued[ResultT]], *args: Any) -> asyncio.Future[ResultT]:
    """Start a queued native call and return the future of its result.

    ``submit(*args, queue)`` starts it and returns its id. The one path every awaitable store
    method takes: ``return await call_queued(self._native.get_queued, task_id, version)``.
    Call it from a coroutine running on the loop.
    """
    bridge = bridge_for_running_loop()
    return bridge.expect(submit(*args, bridge.queue))


def _forget_bridges_in_child() -> None:
    # A forked child must not share the parent's eventfds or futures.
    global _last, _bridges_lock
    _bridges.clear()
    _last = (lambda: None, None)
    _bridges_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_bridges_in_child)
