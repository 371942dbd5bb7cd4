"""Exceptions raised by asap_native stores.

Every database failure is a :class:`StoreError`. Each class also derives from the
:mod:`sqlite3` exception that Python's own driver (and so asap-protocol's aiosqlite stores)
raises for the same failure, so ``except sqlite3.OperationalError`` keeps working after a
switch to asap_native. Instances carry SQLite's extended result code and its name in
``sqlite_errorcode`` (SQLite's extended result code, as :class:`sqlite3.Error` has it) and
``sqlite_errorname`` (the name of its primary code, e.g. ``SQLITE_IOERR`` for an extended
``SQLITE_IOERR_WRITE``).

A ``db_path`` that cannot be used is refused when the store is opened, with an exception that
is both the :class:`OSError` its ``errno`` calls for (``FileNotFoundError``,
``IsADirectoryError``, ``PermissionError``...) and the ``sqlite3.OperationalError`` that
asap-protocol raises for it at first use: see :func:`path_error`.

PostgreSQL stores raise the same classes where the failure is the same (a lock or deadlock is a
:class:`DatabaseLockedError`, a read-only standby a :class:`ReadOnlyDatabaseError`...), with the
server's five-character SQLSTATE in ``sqlstate``, plus three classes of their own:
:class:`DatabaseConnectionError` (the server cannot be reached, or the connection was lost: also a
:class:`ConnectionError`), :class:`DatabaseAuthenticationError` (the server refused the
credentials: also a :class:`PermissionError`) and :class:`DatabaseTimeoutError` (a statement ran
past the store's ``timeout``: also a :class:`TimeoutError`).
"""

from __future__ import annotations

import errno
import sqlite3

__all__ = [
    "CannotOpenDatabaseError",
    "DatabaseAuthenticationError",
    "DatabaseConnectionError",
    "DatabaseIOError",
    "DatabaseLockedError",
    "DatabasePathError",
    "DatabaseTimeoutError",
    "NotADatabaseError",
    "ReadOnlyDatabaseError",
    "StoreClosedError",
    "StoreError",
    "StoredDataError",
    "path_error",
]


class StoreError(sqlite3.DatabaseError):
    """A store operation failed inside SQLite."""

    sqlite_errorcode: int = 0
    sqlite_errorname: str = ""
    #: PostgreSQL's SQLSTATE of the failure ("" for SQLite, and for failures the client saw).
    sqlstate: str = ""


class DatabaseLockedError(StoreError, sqlite3.OperationalError):
    """Another connection held the database lock for longer than the busy timeout."""


class ReadOnlyDatabaseError(StoreError, sqlite3.OperationalError):
    """The database file (or its folder, or its file system) cannot be written."""


class NotADatabaseError(StoreError):
    """The file is not a SQLite database, or it is corrupt."""


class CannotOpenDatabaseError(StoreError, sqlite3.OperationalError):
    """SQLite could not open the database file."""


class DatabaseIOError(StoreError, sqlite3.OperationalError):
    """The operating system refused a read or write (disk full, I/O error)."""


class StoreClosedError(StoreError, sqlite3.ProgrammingError):
    """The store was closed before the call."""


class StoredDataError(StoreError, ValueError):
    """A stored row cannot be read back: its JSON is invalid, its data is not an object, its
    timestamp is not ISO-8601... (a row written by another program, or edited by hand).

    The message names the row (task id and version, or usage event id); ``__cause__`` is the
    error that reading it raised. Only that call fails: the store stays usable, and other rows
    read as before. asap-protocol raises a ``ValueError`` too (``json.JSONDecodeError`` or
    pydantic's ``ValidationError``) for such rows.
    """


class DatabaseConnectionError(StoreError, sqlite3.OperationalError, ConnectionError):
    """The database server cannot be reached, or the connection to it was lost (a server
    restart, a network cut, no answer within the store's ``timeout``).

    A call that fails with it may or may not have been committed if it was a write (the answer
    was lost with the connection). The store reconnects by itself: later calls open new
    connections.
    """


class DatabaseAuthenticationError(DatabaseConnectionError, PermissionError):
    """The database server refused the credentials (wrong password, no ``pg_hba.conf`` entry)."""


class DatabaseTimeoutError(StoreError, sqlite3.OperationalError, TimeoutError):
    """A statement ran past the store's ``timeout`` and was cancelled by the server."""


class DatabasePathError(CannotOpenDatabaseError, OSError):
    """``db_path`` cannot be used: an :class:`OSError` with ``errno`` and ``filename``."""


def _path_error_classes() -> dict[int, type[DatabasePathError]]:
    # One class per OSError subclass, so `except FileNotFoundError` and `except
    # sqlite3.OperationalError` both catch a missing folder.
    classes: dict[int, type[DatabasePathError]] = {}
    for number, base, name in (
        (errno.ENOENT, FileNotFoundError, "DatabaseFolderNotFoundError"),
        (errno.EISDIR, IsADirectoryError, "DatabaseIsADirectoryError"),
        (errno.ENOTDIR, NotADirectoryError, "DatabaseNotADirectoryError"),
        (errno.EACCES, PermissionError, "DatabasePermissionError"),
        (errno.EPERM, PermissionError, "DatabasePermissionError"),
        (errno.EEXIST, FileExistsError, "DatabaseFileExistsError"),  # a backup's destination
    ):
        existing = next((c for c in classes.values() if c.__name__ == name), None)
        classes[number] = existing or type(
            name, (DatabasePathError, base), {"__module__": __name__, "__doc__": base.__doc__}
        )
    return classes


_PATH_ERRORS = _path_error_classes()


class ReadOnlyFileSystemError(ReadOnlyDatabaseError, OSError):
    """``db_path`` lies on a read-only file system (``errno.EROFS``)."""


def path_error(number: int, message: str, path: str) -> OSError:
    """The exception for a ``db_path`` refused with ``errno`` ``number``.

    It is an :class:`OSError` whose subclass ``errno`` selects (as ``OSError(number, ...)``
    would) and a :class:`StoreError` that is a ``sqlite3.OperationalError``:
    :class:`ReadOnlyDatabaseError` for a read-only file system, else
    :class:`CannotOpenDatabaseError`.
    """
    if number == errno.EROFS:
        return ReadOnlyFileSystemError(number, message, path)
    return _PATH_ERRORS.get(number, DatabasePathError)(number, message, path)


# The class _core raises for each kind of core failure (handed over once, at import).
NATIVE_ERROR_CLASSES: dict[str, type[Exception]] = {
    "sql_usage": sqlite3.ProgrammingError,
    "busy": DatabaseLockedError,
    "read_only": ReadOnlyDatabaseError,
    "not_a_database": NotADatabaseError,
    "cant_open": CannotOpenDatabaseError,
    "io": DatabaseIOError,
    "closed": StoreClosedError,
    "invalid_data": StoredDataError,
    "connection": DatabaseConnectionError,
    "authentication": DatabaseAuthenticationError,
    "timeout": DatabaseTimeoutError,
    "other": StoreError,
}
