"""Looking after the SQLite stores' files: retention, online backups, checks.

The SQLite stores carry these methods (named as each class names its calls: the sync-first
:class:`~asap_native.SQLiteSnapshotStore` has ``prune`` and ``prune_async``; the awaitable
:class:`~asap_native.SQLiteAsyncSnapshotStore` and :class:`~asap_native.SQLiteMeteringStore`
have coroutine ``prune``/``prune_before`` and ``..._sync`` twins):

- ``prune(keep_last=N)``, ``prune(task_id, keep_last=N)``: keep the N highest versions of
  every task (or of one) and delete the rest; ``prune_before(datetime)``: delete the usage
  events before an instant. Both delete a bounded chunk per transaction (``chunk_size``
  rows), so the store's other writes, and other processes', wait for one chunk at most; the
  awaitable forms queue each chunk as one of the store's group-committed writes. They return
  how many rows they deleted.
- ``backup(dest)``: a consistent copy of the whole file (every table on it) into a new file,
  made with SQLite's online backup API inside one read transaction: writers go on meanwhile
  and the copy holds each of their commits entirely or not at all.
- ``check(quick=False)``: SQLite's integrity check and the schema against asap-protocol's,
  as a :class:`CheckReport`.

``python -m asap_native`` (:mod:`asap_native.cli`) offers the same on a file from the command
line. Other backends can follow the same shape: a retention rule is a C++ ``RetentionJob``
stepped on any engine's writer connection.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from asap_native import _core
from asap_native._store_base import at_least_one
from asap_native.loop_bridge import call_queued

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "AsyncSnapshotMaintenance",
    "CheckReport",
    "MeteringMaintenance",
    "SnapshotMaintenance",
    "check_report",
]

#: Rows deleted per transaction by prune and prune_before.
DEFAULT_CHUNK_SIZE = 1000
#: The longest pause between two chunks of a prune on the calling thread (see run_rule).
MAX_PAUSE_BETWEEN_CHUNKS = 0.1
#: Pages copied per step of a backup (a progress report after each).
BACKUP_PAGES_PER_STEP = 1024
#: Problems integrity_check reports at most.
MAX_INTEGRITY_ERRORS = 100

#: ``progress(rows_deleted_so_far)`` for prune; ``progress(pages_copied, pages_total)``
#: for backup.
PruneProgress = Callable[[int], object]
BackupProgress = Callable[[int, int], object]


@dataclass(frozen=True)
class CheckReport:
    """What :meth:`check` found.

    ``integrity_errors``: SQLite's integrity_check lines (empty when the file is sound).
    ``schema_problems``: what stops asap-protocol's stores from reading or writing their
    tables in this file. ``schema_notes``: the rest worth knowing (a table not created yet,
    a missing index, asap-native's instant index).
    """

    integrity_errors: tuple[str, ...]
    schema_problems: tuple[str, ...]
    schema_notes: tuple[str, ...]
    quick: bool = False

    @property
    def ok(self) -> bool:
        """True when the file is sound and asap-protocol's stores can use it."""
        return not self.integrity_errors and not self.schema_problems

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {
            "ok": self.ok,
            "quick": self.quick,
            "integrity_errors": list(self.integrity_errors),
            "schema_problems": list(self.schema_problems),
            "schema_notes": list(self.schema_notes),
        }


def check_report(raw: dict[str, list[str]], quick: bool) -> CheckReport:
    """A :class:`CheckReport` from the native check's dict."""
    return CheckReport(
        integrity_errors=tuple(raw["integrity_errors"]),
        schema_problems=tuple(raw["schema_problems"]),
        schema_notes=tuple(raw["schema_notes"]),
        quick=quick,
    )


class _HasMaintenance(Protocol):
    def maintenance(self) -> _core.NativeMaintenance: ...


def run_rule(rule: _core.NativeRetention, progress: PruneProgress | None = None) -> int:
    """Steps a retention rule to the end on the calling thread; returns the rows deleted.

    After each chunk it leaves the write lock free as long as the chunk held it (at most
    ``MAX_PAUSE_BETWEEN_CHUNKS``): a writer of another connection waits in SQLite's busy
    handler, which looks for the lock at growing intervals of up to 100 ms and, were the
    chunks back to back, would nearly always find the next one holding it.
    """
    while not rule.done:
        started = time.perf_counter()
        rule.step()
        held = time.perf_counter() - started
        if progress is not None:
            progress(rule.deleted)
        if not rule.done:
            time.sleep(min(held, MAX_PAUSE_BETWEEN_CHUNKS))
    return rule.deleted


async def run_rule_queued(rule: _core.NativeRetention) -> int:
    """Steps a retention rule to the end, each step a queued write; returns the rows deleted."""
    while not rule.done:
        await call_queued(rule.step_queued)
    return rule.deleted


class _Maintained:
    """What the maintenance methods share: the native handle on the store's own engine."""

    _native: Any  # a native SQLite store binding (has maintenance())

    def _maintenance(self) -> _core.NativeMaintenance:
        native: _HasMaintenance = self._native
        return native.maintenance()

    def _snapshot_rule(
        self, task_id: str | None, keep_last: int, chunk_size: int
    ) -> _core.NativeRetention:
        return self._maintenance().snapshot_retention(
            task_id,
            at_least_one(keep_last, "keep_last", " (delete(task_id) removes a whole task)"),
            at_least_one(chunk_size, "chunk_size"),
        )

    def _usage_rule(self, before: datetime, chunk_size: int) -> _core.NativeRetention:
        if not isinstance(before, (datetime, str)):
            raise TypeError(f"before must be a datetime, not {type(before).__name__}")
        return self._maintenance().usage_retention(before, at_least_one(chunk_size, "chunk_size"))


# Each call below is written once and carried by the classes that follow under the names each
# class gives it: the sync-first SnapshotMaintenance names the coroutines ``..._async``, the
# awaitable-first classes name the calling-thread forms ``..._sync``.


def _prune_now(
    self: _Maintained,
    task_id: str | None = None,
    *,
    keep_last: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: PruneProgress | None = None,
) -> int:
    """Keep the ``keep_last`` highest versions of every task (or of ``task_id``) and delete
    the others on the calling thread, ``chunk_size`` rows per transaction; returns how many
    went.

    ``progress(deleted_so_far)`` is called after each chunk.

    Raises:
        ValueError: ``keep_last`` or ``chunk_size`` is below 1.
    """
    return run_rule(self._snapshot_rule(task_id, keep_last, chunk_size), progress)


async def _prune_queued(
    self: _Maintained,
    task_id: str | None = None,
    *,
    keep_last: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> int:
    """Keep the ``keep_last`` highest versions of every task (or of ``task_id``); each chunk
    of deletions is one of the store's queued writes. Returns how many went."""
    return await run_rule_queued(self._snapshot_rule(task_id, keep_last, chunk_size))


def _backup_now(
    self: _Maintained, dest: str | os.PathLike[str], *, progress: BackupProgress | None = None
) -> None:
    """Copy the database on the calling thread, consistently and while writers go on, into
    the new file ``dest`` (created readable by its owner only).

    ``progress(pages_copied, pages_total)`` is called after each step.

    Raises:
        FileExistsError: ``dest`` exists.
    """
    self._maintenance().backup(dest, BACKUP_PAGES_PER_STEP, progress)


async def _backup_queued(self: _Maintained, dest: str | os.PathLike[str]) -> None:
    """A consistent copy of the database into the new file ``dest``, made on one of the
    store's reader threads."""
    await call_queued(self._maintenance().backup_queued, dest, BACKUP_PAGES_PER_STEP)


def _check_now(self: _Maintained, *, quick: bool = False) -> CheckReport:
    """SQLite's integrity check (``quick``: quick_check) and the schema against
    asap-protocol's, on the calling thread."""
    raw = self._maintenance().check(bool(quick), MAX_INTEGRITY_ERRORS)
    return check_report(raw, bool(quick))


async def _check_queued(self: _Maintained, *, quick: bool = False) -> CheckReport:
    """SQLite's integrity check (``quick``: quick_check) and the schema against
    asap-protocol's, on one of the store's reader threads."""
    raw = await call_queued(self._maintenance().check_queued, bool(quick), MAX_INTEGRITY_ERRORS)
    return check_report(raw, bool(quick))


def _prune_before_now(
    self: _Maintained,
    before: datetime,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: PruneProgress | None = None,
) -> int:
    """:meth:`prune_before` on the calling thread, a transaction per chunk;
    ``progress(deleted_so_far)`` is called after each."""
    return run_rule(self._usage_rule(before, chunk_size), progress)


async def _prune_before_queued(
    self: _Maintained, before: datetime, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> int:
    """Delete the usage events whose timestamp is before ``before`` (an instant; a naive
    datetime is read as UTC), ``chunk_size`` per queued write. Returns how many went.
    Events whose timestamp is not ISO-8601 are kept."""
    return await run_rule_queued(self._usage_rule(before, chunk_size))


class SnapshotMaintenance(_Maintained):
    """Retention, backup and check for :class:`~asap_native.SQLiteSnapshotStore` (sync
    methods, ``_async`` coroutines)."""

    prune = _prune_now
    prune_async = _prune_queued
    backup = _backup_now
    backup_async = _backup_queued
    check = _check_now
    check_async = _check_queued


class _AwaitableMaintained(_Maintained):
    """Backup and check for the stores whose calls are coroutines (``_sync`` twins)."""

    backup = _backup_queued
    backup_sync = _backup_now
    check = _check_queued
    check_sync = _check_now


class AsyncSnapshotMaintenance(_AwaitableMaintained):
    """Retention, backup and check for :class:`~asap_native.SQLiteAsyncSnapshotStore`
    (coroutines, ``_sync`` twins): see :class:`SnapshotMaintenance`."""

    prune = _prune_queued
    prune_sync = _prune_now


class MeteringMaintenance(_AwaitableMaintained):
    """Retention, backup and check for :class:`~asap_native.SQLiteMeteringStore`
    (coroutines, ``_sync`` twins)."""

    prune_before = _prune_before_queued
    prune_before_sync = _prune_before_now
