"""What every store class shares: opening its native store (closed at collection or
interpreter exit), closing, ``with``/``async with``, figures; and a SQLite file's options."""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

if TYPE_CHECKING:
    from typing_extensions import Self

    from asap_native.figures import StoreFigures

__all__ = ["DEFAULT_DB_PATH", "Durability", "SQLiteFile", "StoreBase", "check_options"]

DEFAULT_DB_PATH = "asap_state.db"

Durability = Literal["normal", "full"]


class _Native(Protocol):
    """The part of every native store binding this module uses."""

    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def stats(self) -> StoreFigures: ...


def seconds(timeout: object) -> float:
    """A store's ``timeout`` argument checked to be a number (not a bool) of seconds."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    return float(timeout)


def at_least_one(value: object, name: str, hint: str = "") -> int:
    """``value`` checked to be an int (not a bool) of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1{hint}")
    return value


def check_options(durability: object, timeout: object) -> tuple[str, float]:
    """The checked ``durability`` and ``timeout`` arguments of a SQLite store."""
    if not isinstance(durability, str):
        raise TypeError(f"durability must be 'normal' or 'full', not {type(durability).__name__}")
    return durability, seconds(timeout)


class StoreBase:
    """Opening, close(), ``with``, ``async with`` and stats() for every store.

    A file or server store class names the ``_core`` function that opens its native store
    (``_open_native``) and calls :meth:`_open` with that function's arguments; the in-memory
    stores set ``_native`` themselves (they hold nothing to release at exit).
    """

    _native: _Native
    _open_native: ClassVar[Callable[..., Any]]

    def _open(self, *arguments: object) -> None:
        """Open ``_native``; it closes at garbage collection or, at the latest, at interpreter
        exit, so queued writes are committed before the threads stop."""
        self._native = type(self)._open_native(*arguments)
        self._finalizer = weakref.finalize(self, self._native.close)

    def close(self) -> None:
        """Wait for queued work, then close; later calls raise StoreClosedError."""
        self._native.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._native.closed

    def stats(self) -> StoreFigures:
        """Figures for monitoring, cheap enough to poll from any thread.

        ``operations``: per kind (save, get, list_versions, delete, record, query, aggregate),
        ``count``, ``errors`` and ``latency_ms`` (``p50``, ``p99``, ``max``; awaited calls
        count from submission to completion). ``errors``: failures by kind (``busy``,
        ``read_only``, ``invalid_argument``, ``invalid_data``...). ``busy_waits``: calls that
        had to wait for another connection's lock. ``group_commit``: ``batches``, ``writes``,
        ``largest_batch`` and ``batch_size`` percentiles of the awaitable API.
        """
        return self._native.stats()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


class SQLiteFile(StoreBase):
    """A store on a SQLite file; ``_open_native`` takes (db_path, durability, timeout) and any
    arguments a subclass adds."""

    _db_path: Path

    def __init__(
        self,
        db_path: str | os.PathLike[str] = DEFAULT_DB_PATH,
        *,
        durability: Durability = "normal",
        timeout: float = 15.0,
    ) -> None:
        self._open_file(db_path, durability, timeout)

    def _open_file(
        self, db_path: str | os.PathLike[str], durability: object, timeout: object, *more: object
    ) -> None:
        """Open the native store on ``db_path`` (``more``: arguments after the file's)."""
        durability_text, seconds = check_options(durability, timeout)
        self._open(db_path, durability_text, seconds, *more)
        self._db_path = Path(db_path)

    @property
    def db_path(self) -> Path:
        """The database file this store uses."""
        return self._db_path

    def __repr__(self) -> str:
        return f"{type(self).__name__}(db_path={str(self._db_path)!r})"
