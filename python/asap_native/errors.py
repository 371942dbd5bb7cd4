"""Exceptions raised by asap_native stores.

Every database failure is a :class:`StoreError`. Each class also derives from the
:mod:`sqlite3` exception that Python's own driver (and so asap-protocol's aiosqlite stores)
raises for the same failure, so ``except sqlite3.OperationalError`` keeps working after a
switch to asap_native. Instances carry SQLite's extended result code and its name in
``sqlite_errorcode`` (SQLite's extended result code, as :class:`sqlite3.Error` has it) and
``sqlite_errorname`` (the name of its primary code, e.g. ``SQLITE_IOERR`` for an extended
``SQLITE_IOERR_WRITE``).
"""

from __future__ import annotations

import sqlite3

__all__ = [
    "CannotOpenDatabaseError",
    "DatabaseIOError",
    "DatabaseLockedError",
    "NotADatabaseError",
    "ReadOnlyDatabaseError",
    "StoreClosedError",
    "StoreError",
]


class StoreError(sqlite3.DatabaseError):
    """A store operation failed inside SQLite."""

    sqlite_errorcode: int
    sqlite_errorname: str

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.sqlite_errorcode = 0
        self.sqlite_errorname = ""


class DatabaseLockedError(StoreError, sqlite3.OperationalError):
    """Another connection held the database lock for longer than the busy timeout."""


class ReadOnlyDatabaseError(StoreError, sqlite3.OperationalError):
    """The database file (or its folder) cannot be written."""


class NotADatabaseError(StoreError):
    """The file is not a SQLite database, or it is corrupt."""


class CannotOpenDatabaseError(StoreError, sqlite3.OperationalError):
    """SQLite could not open the database file."""


class DatabaseIOError(StoreError, sqlite3.OperationalError):
    """The operating system refused a read or write (disk full, I/O error)."""


class StoreClosedError(StoreError, sqlite3.ProgrammingError):
    """The store was closed before the call."""
