"""SQL on the native engine: what asap-protocol's ``AsyncSqliteRepository`` and the stores built
on it (economics, SLA, delegation, audit) run on after :func:`asap_native.integration.install`.

:class:`SQLiteRepository` offers the repository's calls (``execute``, ``fetch_one``,
``fetch_all``, ``transaction()``) and a :class:`Connection` that behaves as an aiosqlite
connection does (``execute`` giving a :class:`Cursor`, ``executescript``, ``commit``,
``rollback``, ``row_factory``, Python's sqlite3 implicit transactions), on the store engine:
connections kept open, statements written by concurrent tasks committed together (group
commit), queries on reader connections, no thread or event loop per call.

How statements run, by kind (as Python's sqlite3 decides, from the first keyword):

- ``execute()`` of INSERT/UPDATE/DELETE/REPLACE: one step of a group commit, in its own
  savepoint; it returns once committed. Any other statement (CREATE, PRAGMA, VACUUM...) runs
  alone, in autocommit mode, as sqlite3 runs it.
- ``fetch_one()``/``fetch_all()``: on a reader connection (WAL: they never wait for writers).
- ``transaction()``: ``BEGIN IMMEDIATE`` on the writer connection, held by the block until
  ``COMMIT`` (or ``ROLLBACK`` on any exception); the repository's other writes wait for it,
  as they wait for asap-protocol's per-repository write lock.
- A :class:`Connection` from ``connection()``: statements before a DML statement run as the
  repository's own calls do; a DML statement opens a transaction on the writer connection
  (``BEGIN``, as sqlite3 does) that holds it until ``commit()``/``rollback()``/``close()``
  (which rolls back, as closing an aiosqlite connection does).

Errors are the :mod:`sqlite3` classes Python's driver raises for the same SQLite result
(``IntegrityError`` for a constraint, ``OperationalError`` for a syntax error or a lock...),
with its messages and ``sqlite_errorcode``/``sqlite_errorname``.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import re
import sqlite3
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from typing import Any, Generic, TypeVar

from asap_native import _core
from asap_native._store_base import SQLiteFile
from asap_native.errors import StoreClosedError, StoreError
from asap_native.loop_bridge import call_queued

__all__ = ["Connection", "Cursor", "Row", "SQLiteRepository", "SQLiteRepositoryMethods"]

Row = sqlite3.Row  # aiosqlite.Row is this very class

Parameters = Sequence[Any] | dict[str, Any]
_ResultT = TypeVar("_ResultT")
# (column names, rows, rowcount, lastrowid, undecodable) as the native engine reports a
# statement: the rows stop before one whose TEXT is not UTF-8, and `undecodable` is then the
# sqlite3.OperationalError that fetching it raises.
_Raw = tuple[tuple[str, ...], list[tuple[Any, ...]], int, int, Exception | None]


# ---- errors: the sqlite3 class for a SQLite result code, as Python's driver picks it ------

# SQLite's primary result codes (sqlite3 names them only from Python 3.11).
(_ERROR, _INTERNAL, _PERM, _ABORT, _BUSY, _LOCKED, _NOMEM, _READONLY, _INTERRUPT, _IOERR) = range(
    1, 11
)
(_CORRUPT, _NOTFOUND, _FULL, _CANTOPEN, _PROTOCOL, _EMPTY, _SCHEMA, _TOOBIG) = range(11, 19)
_CONSTRAINT, _MISMATCH, _MISUSE, _NOLFS, _AUTH, _FORMAT, _RANGE, _NOTADB = range(19, 27)

_CLASS_OF_CODE: dict[int, type[sqlite3.Error]] = {
    _INTERNAL: sqlite3.InternalError,
    _NOTFOUND: sqlite3.InternalError,
    _CORRUPT: sqlite3.DatabaseError,
    _NOTADB: sqlite3.DatabaseError,
    _TOOBIG: sqlite3.DataError,
    _CONSTRAINT: sqlite3.IntegrityError,
    _MISMATCH: sqlite3.IntegrityError,
    _MISUSE: sqlite3.ProgrammingError,
    _RANGE: sqlite3.InterfaceError,
}
_OPERATIONAL = {
    _ERROR,
    _PERM,
    _ABORT,
    _BUSY,
    _LOCKED,
    _READONLY,
    _INTERRUPT,
    _IOERR,
    _FULL,
    _CANTOPEN,
    _PROTOCOL,
    _EMPTY,
    _SCHEMA,
}
# The engine names the step that failed ("step: UNIQUE constraint failed: t.id"); sqlite3's
# message is SQLite's alone.
_STEP_PREFIXES = ("prepare: ", "step: ", "bind: ", "execute: ")

# The names sqlite3 gives SQLite's result codes, primary and extended (its exceptions'
# sqlite_errorname; "unknown" for a code it has no name for). sqlite3 also exports other
# SQLITE_ constants (authorizer actions...): only result codes are taken.
_PRIMARY_NAMES = (  # noqa: SIM905 (a list literal would take 31 lines)
    "ABORT AUTH BUSY CANTOPEN CONSTRAINT CORRUPT DONE EMPTY ERROR FORMAT FULL INTERNAL "
    "INTERRUPT IOERR LOCKED MISMATCH MISUSE NOLFS NOMEM NOTADB NOTFOUND NOTICE OK PERM "
    "PROTOCOL RANGE READONLY ROW SCHEMA TOOBIG WARNING"
).split()
_NAME_OF_CODE: dict[int, str] = {}
for _primary in _PRIMARY_NAMES:
    for _name, _value in vars(sqlite3).items():
        if isinstance(_value, int) and (
            _name == f"SQLITE_{_primary}" or _name.startswith(f"SQLITE_{_primary}_")
        ):
            _NAME_OF_CODE.setdefault(_value, _name)


def _sqlite3_error(error: StoreError) -> Exception:
    """The sqlite3 exception Python's driver raises for the failure ``error`` reports."""
    if isinstance(error, StoreClosedError):
        return sqlite3.ProgrammingError("Cannot operate on a closed database.")
    code = error.sqlite_errorcode
    primary = code & 0xFF
    if primary == _NOMEM:
        return MemoryError()
    cls = _CLASS_OF_CODE.get(primary)
    if cls is None:
        cls = sqlite3.OperationalError if primary in _OPERATIONAL else sqlite3.DatabaseError
    original = message = str(error)
    for prefix in _STEP_PREFIXES:
        if message.startswith(prefix):
            message = message[len(prefix) :]
            break
    converted = cls(message)
    # As sqlite3's own errors carry them (Python >= 3.11).
    setattr(converted, "sqlite_errorcode", code)  # noqa: B010
    setattr(converted, "sqlite_errorname", _NAME_OF_CODE.get(code, "unknown"))  # noqa: B010
    if original.startswith("prepare: "):
        _mark_before_begin(converted)
    return converted


# sqlite3 prepares a statement before it begins the transaction a DML statement opens: these
# errors come before that (the statement never ran, and no transaction began).
_ONE_STATEMENT = "You can only execute one statement at a time."


def _mark_before_begin(error: Exception) -> None:
    setattr(error, "_asap_native_before_begin", True)  # noqa: B010


async def _run(future: Awaitable[_ResultT]) -> _ResultT:
    """Await a native call; its StoreError becomes the sqlite3 exception."""
    try:
        return await future
    except StoreError as error:
        raise _sqlite3_error(error) from None
    except sqlite3.ProgrammingError as error:
        if str(error) == _ONE_STATEMENT:
            _mark_before_begin(error)
        raise


def _outcome(outcome: _ResultT | BaseException) -> _ResultT:
    """One result of ``asyncio.gather(..., return_exceptions=True)``, or its exception raised
    (as sqlite3's class)."""
    if isinstance(outcome, StoreError):
        raise _sqlite3_error(outcome)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


# ---- statement kinds, from the first keyword (as Python's sqlite3 reads it) ------------------

_READ, _WRITE, _DML, _BEGIN, _COMMIT, _ROLLBACK, _EMPTY = range(7)
_KIND_OF_KEYWORD = {
    "SELECT": _READ,
    "WITH": _READ,
    "VALUES": _READ,
    "EXPLAIN": _READ,
    # PRAGMA is a write: one that sets a connection setting (foreign_keys...) must reach the
    # writer connection, where this connection's writes run.
    "INSERT": _DML,
    "UPDATE": _DML,
    "DELETE": _DML,
    "REPLACE": _DML,
    "BEGIN": _BEGIN,
    "SAVEPOINT": _BEGIN,
    "COMMIT": _COMMIT,
    "END": _COMMIT,
    "ROLLBACK": _ROLLBACK,
}
_kinds: dict[str, int] = {}
# White space, comments and semicolons only: SQLite prepares no statement from it.
_EMPTY_SQL = re.compile(r"(?:[ \t\n\f\r;]+|--[^\n]*(?:\n|\Z)|/\*.*?(?:\*/|\Z))*", re.DOTALL)


def _first_keyword(sql: str) -> str:
    i, n = 0, len(sql)
    while i < n:
        if sql[i].isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            break
    j = i
    while j < n and (sql[j].isalpha() or sql[j] == "_"):
        j += 1
    return sql[i:j].upper()


def _kind(sql: str) -> int:
    kind = _kinds.get(sql)
    if kind is None:
        keyword = _first_keyword(sql)
        if not keyword and _EMPTY_SQL.fullmatch(sql):
            kind = _EMPTY
        else:
            kind = _KIND_OF_KEYWORD.get(keyword, _WRITE)
        if kind == _ROLLBACK and " TO " in f" {sql.upper()} ":
            kind = _WRITE  # ROLLBACK TO a savepoint: a statement inside the transaction
        if len(_kinds) < 4096:  # asap's SQL is a fixed set; a flood of ad-hoc SQL is not kept
            _kinds[sql] = kind
    return kind


def _checked_sql(sql: object, method: str) -> str:
    """``sql`` as sqlite3 takes it: a str (TypeError) without a NUL (ProgrammingError)."""
    if not isinstance(sql, str):
        raise TypeError(f"{method}() argument 1 must be str, not {type(sql).__name__}")
    if "\0" in sql:
        raise sqlite3.ProgrammingError("the query contains a null character")
    return sql


def _queued(submit: Callable[..., Any], sql: str, *args: Any) -> Awaitable[Any]:
    """call_queued(submit, sql, *args); SQL the binding refuses (a lone surrogate) raises what
    sqlite3 raises for it."""
    try:
        return _run(call_queued(submit, sql, *args))
    except TypeError:
        sql.encode()  # UnicodeEncodeError, as sqlite3; any other TypeError is the binding's
        raise


# ---- rows ----------------------------------------------------------------------------------

# sqlite3.Row takes the cursor that made the row (for its column names) and must get a real
# sqlite3.Cursor: one per column list, from a private in-memory connection, does.
_row_source = sqlite3.connect(":memory:", check_same_thread=False)
_row_cursors: dict[tuple[str, ...], sqlite3.Cursor] = {}


def _row_cursor(columns: tuple[str, ...]) -> sqlite3.Cursor:
    cursor = _row_cursors.get(columns)
    if cursor is None:
        quoted = ", ".join('NULL AS "{}"'.format(name.replace('"', '""')) for name in columns)
        cursor = _row_source.execute(f"SELECT {quoted} WHERE 0")
        if len(_row_cursors) < 1024:
            _row_cursors[columns] = cursor
    return cursor


_NOTHING: _Raw = ((), [], -1, 0, None)


class Cursor:
    """The result of a statement, as an aiosqlite cursor gives it. Rows are fetched already;
    ``row_factory`` and the connection's ``text_factory`` apply as they are fetched, as in
    sqlite3."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._columns: tuple[str, ...] = ()
        self._rows: list[tuple[Any, ...]] = []
        self._next = 0
        # What fetching past the rows raises (TEXT that is not UTF-8), as sqlite3 does.
        self._undecodable: Exception | None = None
        self._description: tuple[tuple[str, None, None, None, None, None, None], ...] | None = None
        self._rowcount = -1
        # INSERT ... RETURNING and the like: sqlite3 counts the rows changed once every row
        # was fetched (until then, 0).
        self._rowcount_when_fetched: int | None = None
        self._lastrowid: int | None = None
        self._closed = False
        self.arraysize = 1
        self.row_factory: Callable[[Any, tuple[Any, ...]], Any] | None = connection._row_factory

    def _load(self, raw: _Raw, kind: int, *, many: bool = False) -> Cursor:
        columns, rows, rowcount, lastrowid, undecodable = raw
        self._columns = columns
        self._description = (
            tuple((name, None, None, None, None, None, None) for name in columns)
            if columns
            else None
        )
        self._rows = rows
        self._next = 0
        self._undecodable = undecodable
        self._rowcount = rowcount
        self._rowcount_when_fetched = None
        if kind == _DML and (rows or undecodable is not None):
            self._rowcount, self._rowcount_when_fetched = 0, rowcount
        if not many and kind != _EMPTY:
            self._lastrowid = lastrowid
        return self

    def _check(self) -> None:
        if self._connection._closed:
            raise ValueError("Connection closed")
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed cursor.")

    def _take(self, count: int | None) -> list[Any]:
        """The next ``count`` rows (None: all), as the factories make them."""
        start = self._next
        end = len(self._rows) if count is None else min(start + count, len(self._rows))
        self._next = end
        if (count is None or end - start < count) and self._undecodable is not None:
            raise self._undecodable
        if end >= len(self._rows) and self._rowcount_when_fetched is not None:
            self._rowcount, self._rowcount_when_fetched = self._rowcount_when_fetched, None
        rows = self._rows[start:end]
        text_factory = self._connection._text_factory
        if text_factory is not str:
            rows = [
                tuple(text_factory(v.encode()) if type(v) is str else v for v in row)
                for row in rows
            ]
        factory = self.row_factory
        if factory is None:
            return rows
        if factory is sqlite3.Row:
            source = _row_cursor(self._columns)
            return [sqlite3.Row(source, row) for row in rows]
        return [factory(self, row) for row in rows]

    @property
    def connection(self) -> Connection:
        return self._connection

    @property
    def description(self) -> tuple[tuple[str, None, None, None, None, None, None], ...] | None:
        """Column names of the last query, as sqlite3 gives them (None after a non-query)."""
        return self._description

    @property
    def rowcount(self) -> int:
        """Rows changed by the last INSERT/UPDATE/DELETE/REPLACE, else -1."""
        return self._rowcount

    @property
    def lastrowid(self) -> int | None:
        """The connection's last inserted rowid after the last statement (as sqlite3's)."""
        return self._lastrowid

    async def execute(self, sql: str, parameters: Parameters | None = None) -> Cursor:
        self._check()
        sql = _checked_sql(sql, "execute")
        return self._load(*await self._connection._statement(sql, parameters))

    async def executemany(self, sql: str, parameters: Iterable[Parameters]) -> Cursor:
        self._check()
        return self._load(*await self._connection._many(sql, parameters), many=True)

    async def executescript(self, sql_script: str) -> Cursor:
        self._check()
        await self._connection.executescript(sql_script)
        return self

    async def fetchone(self) -> Any:
        self._check()
        rows = self._take(1)
        return rows[0] if rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        self._check()
        count = self.arraysize if size is None else size
        return self._take(count if count > 0 else None)  # sqlite3: 0 or less is every row

    async def fetchall(self) -> list[Any]:
        self._check()
        return self._take(None)

    async def close(self) -> None:
        if self._connection._closed:
            raise ValueError("Connection closed")
        self._closed = True
        self._rows = []

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while rows := await self.fetchmany(64):
            for row in rows:
                yield row

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _Pending(Generic[_ResultT]):
    """What aiosqlite's ``execute``/``cursor`` return: awaitable, and usable in ``async with``
    (then the cursor is closed at the end)."""

    __slots__ = ("_coroutine", "_result")

    def __init__(self, coroutine: Awaitable[_ResultT]) -> None:
        self._coroutine = coroutine
        self._result: _ResultT | None = None

    def __await__(self) -> Generator[Any, None, _ResultT]:
        return self._coroutine.__await__()

    async def __aenter__(self) -> _ResultT:
        self._result = await self._coroutine
        return self._result

    async def __aexit__(self, *exc: object) -> None:
        close = getattr(self._result, "close", None)
        if close is not None:
            await close()


_LEVELS = {"": "", "DEFERRED": "DEFERRED", "IMMEDIATE": "IMMEDIATE", "EXCLUSIVE": "EXCLUSIVE"}


def _isolation_level(value: object) -> str | None:
    """``value`` as sqlite3 takes an isolation level (canonical case), or its error."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("isolation_level must be str or None")
    level = _LEVELS.get(value.upper())
    if level is None:
        raise ValueError(
            "isolation_level string must be '', 'DEFERRED', 'IMMEDIATE', or 'EXCLUSIVE'"
        )
    return level


class Connection:
    """An aiosqlite-style connection on a :class:`SQLiteRepository` (see the module's notes).

    ``isolation_level`` is sqlite3's: ``""`` (the default: ``BEGIN`` before a DML statement
    outside a transaction), ``"DEFERRED"``, ``"IMMEDIATE"``, ``"EXCLUSIVE"``, or ``None``
    (autocommit: no implicit transaction). Setting it to ``None`` leaves an open transaction
    open until ``commit()``/``rollback()`` (aiosqlite cannot set it at all: sqlite3 refuses
    the call from the event loop's thread).

    Once closed, it raises ``ValueError``, as an aiosqlite connection does.
    """

    def __init__(self, repository: SQLiteRepository, isolation_level: str | None = "") -> None:
        self._repository = repository
        self._native = repository._native
        self._session: _core.NativeSession | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._closed = False
        self._isolation_level = _isolation_level(isolation_level)
        self._row_factory: Callable[[Any, tuple[Any, ...]], Any] | None = None
        self._text_factory: Callable[[bytes], Any] = str
        self._total_changes = 0
        # sqlite3_last_insert_rowid() of this connection, as if it had its own: every
        # statement starts from it on the shared connection it runs on.
        self._lastrowid = 0

    # ---- aiosqlite's API -------------------------------------------------------------------

    def execute(self, sql: str, parameters: Parameters | None = None) -> _Pending[Cursor]:
        """Run one statement; await it (or ``async with`` it) for its :class:`Cursor`."""
        return _Pending(self._cursor_execute(sql, parameters))

    async def _cursor_execute(self, sql: str, parameters: Parameters | None) -> Cursor:
        self._check_open()
        return await Cursor(self).execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Parameters]) -> _Pending[Cursor]:
        return _Pending(self._cursor_executemany(sql, parameters))

    async def _cursor_executemany(self, sql: str, parameters: Iterable[Parameters]) -> Cursor:
        self._check_open()
        return await Cursor(self).executemany(sql, parameters)

    async def executescript(self, sql_script: str) -> Cursor:
        """Commit what is pending, then run every statement of the script (no parameters)."""
        self._check_open()
        if not isinstance(sql_script, str):
            raise TypeError(
                f"executescript() argument must be str, not {type(sql_script).__name__}"
            )
        if "\0" in sql_script:
            raise ValueError("embedded null character")
        sql_script.encode()  # a lone surrogate: UnicodeEncodeError, as sqlite3
        # On the writer connection, held: a script may leave a transaction open (its own
        # BEGIN), which then stays open until commit()/rollback(), as in sqlite3.
        session = self._session
        if session is None:
            self._refuse_write()
            session = self._open_session("")
        # The script starts from this connection's last inserted rowid, and what it leaves is
        # read back after it (the statements queue in order on the session).
        seed = call_queued(session.run_queued, "SELECT 1", (), self._lastrowid)
        script = call_queued(session.script_queued, sql_script)
        after = call_queued(session.run_queued, "SELECT last_insert_rowid()", (), None)
        try:
            outcomes = await asyncio.gather(seed, script, after, return_exceptions=True)
        finally:
            await self._end_if_no_transaction()
        _outcome(outcomes[0])
        _outcome(outcomes[1])
        self._lastrowid = _outcome(outcomes[2])[1][0][0]
        return Cursor(self)

    async def execute_fetchall(self, sql: str, parameters: Parameters | None = None) -> list[Any]:
        cursor = await self.execute(sql, parameters)
        return await cursor.fetchall()

    async def execute_insert(self, sql: str, parameters: Parameters | None = None) -> Any:
        """Run an INSERT; ``SELECT last_insert_rowid()``'s row, as aiosqlite gives it."""
        cursor = await self.execute(sql, parameters)
        row: _Raw = (("last_insert_rowid()",), [(self._lastrowid,)], -1, self._lastrowid, None)
        return await cursor._load(row, _READ).fetchone()

    def cursor(self) -> _Pending[Cursor]:
        async def make() -> Cursor:
            self._check_open()
            return Cursor(self)

        return _Pending(make())

    async def commit(self) -> None:
        """Commit the open transaction, if any (and give the writer connection back)."""
        self._check_open()
        await self._end(commit=True)

    async def rollback(self) -> None:
        """Roll back the open transaction, if any."""
        self._check_open()
        await self._end(commit=False)

    async def close(self) -> None:
        """Roll back what was not committed, as closing an aiosqlite connection does."""
        if not self._closed:
            self._closed = True
            await self._end(commit=False)

    @property
    def in_transaction(self) -> bool:
        self._check_open()
        return self._session is not None and self._session.in_transaction

    @property
    def isolation_level(self) -> str | None:
        self._check_open()
        return self._isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._check_open()
        self._isolation_level = _isolation_level(value)

    @property
    def row_factory(self) -> Callable[[Any, tuple[Any, ...]], Any] | None:
        self._check_open()
        return self._row_factory

    @row_factory.setter
    def row_factory(self, factory: Callable[[Any, tuple[Any, ...]], Any] | None) -> None:
        self._check_open()
        self._row_factory = factory

    @property
    def text_factory(self) -> Callable[[bytes], Any]:
        self._check_open()
        return self._text_factory

    @text_factory.setter
    def text_factory(self, factory: Callable[[bytes], Any]) -> None:
        self._check_open()
        self._text_factory = factory

    @property
    def total_changes(self) -> int:
        """Rows changed by this connection's INSERT/UPDATE/DELETE statements so far."""
        self._check_open()
        return self._total_changes

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- how statements run --------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("no active connection")

    def _open_session(self, begin: str, *, for_transaction: bool = False) -> _core.NativeSession:
        """Hold the writer connection from ``begin`` (which runs first, in the same hand-over
        as the statement queued right after) until ``_end``."""
        session = self._native.open_session(begin)
        self._session = session
        # Dropped without commit()/close(): roll back, so the writer connection comes back.
        self._finalizer = weakref.finalize(self, session.abandon)
        _hold(self, session, for_transaction)
        return session

    async def _end(self, *, commit: bool) -> None:
        session = self._session
        if session is None:
            return
        self._session = None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        await _run(call_queued(session.end_queued, commit))

    async def _end_if_no_transaction(self) -> None:
        if self._session is not None and not self._session.in_transaction:
            await self._end(commit=True)

    def _refuse_write(self) -> None:
        """Raise rather than queue work behind a transaction the running task holds on another
        connection of this repository: that work would wait for it forever. Python's sqlite3
        fails such a write with "database is locked" once its busy timeout has passed."""
        if _held_by_task(self._native, other_than=self) is not None:
            error = sqlite3.OperationalError("database is locked")
            setattr(error, "sqlite_errorcode", _BUSY)  # noqa: B010
            setattr(error, "sqlite_errorname", "SQLITE_BUSY")  # noqa: B010
            raise error

    def _refuse_read(self) -> None:
        if self._repository._in_memory:
            self._refuse_write()

    async def _statement(self, sql: str, parameters: Parameters | None) -> tuple[_Raw, int]:
        """Run one statement: its result, and its kind."""
        if parameters is None:
            parameters = ()  # aiosqlite's default
        kind = _kind(sql)
        session = self._session
        if session is None:
            if kind == _DML and self._isolation_level is not None:
                self._refuse_write()
                session = self._open_session(f"BEGIN {self._isolation_level}")
                return await self._first_statement(session, sql, parameters), kind
            if kind == _BEGIN:
                self._refuse_write()
                session = self._open_session("")
            elif kind in (_READ, _EMPTY):
                self._refuse_read()
                raw = await _queued(self._native.fetch_queued, sql, parameters, self._lastrowid)
                self._lastrowid = raw[3]
                return raw, kind
            else:  # autocommit: DDL, PRAGMA, DML with isolation_level None...
                self._refuse_write()
                raw = await _queued(self._native.execute_queued, sql, parameters, self._lastrowid)
                return self._ran(raw, kind), kind
        if kind in (_COMMIT, _ROLLBACK):
            await self._end(commit=kind == _COMMIT)
            return (*_NOTHING[:3], self._lastrowid, None), kind
        try:
            raw = await _queued(session.run_queued, sql, parameters, self._lastrowid)
        finally:
            await self._end_if_no_transaction()
        return self._ran(raw, kind), kind

    async def _first_statement(
        self, session: _core.NativeSession, sql: str, parameters: Parameters
    ) -> _Raw:
        """The DML statement that began ``session``. sqlite3 begins a transaction once the
        statement is prepared: if it could not be, the transaction never was."""
        try:
            raw = await _queued(session.run_queued, sql, parameters, self._lastrowid)
        except (sqlite3.OperationalError, sqlite3.ProgrammingError, sqlite3.DatabaseError) as error:
            if getattr(error, "_asap_native_before_begin", False):
                await self._end(commit=False)
            else:
                await self._end_if_no_transaction()
            raise
        except BaseException:
            await self._end_if_no_transaction()
            raise
        await self._end_if_no_transaction()
        return self._ran(raw, _DML)

    def _ran(self, raw: _Raw, kind: int) -> _Raw:
        self._lastrowid = raw[3]
        if kind == _DML:
            self._total_changes += max(raw[2], 0)
        return raw

    async def _many(self, sql: str, parameters: Iterable[Parameters]) -> tuple[_Raw, int]:
        sql = _checked_sql(sql, "executemany")
        values = iter(parameters)
        kind = _kind(sql)
        # sqlite3 refuses a statement that does not write (sqlite3_stmt_readonly): queries,
        # transaction control, an empty statement.
        if kind in (_READ, _EMPTY, _BEGIN, _COMMIT, _ROLLBACK) or _first_keyword(sql) in (
            "RELEASE",
            "ROLLBACK",
        ):
            raise sqlite3.ProgrammingError("executemany() can only execute DML statements.")
        if kind == _DML and self._session is None and self._isolation_level is not None:
            # sqlite3 begins before the first set of parameters (so with none, too).
            self._refuse_write()
            session = self._open_session(f"BEGIN {self._isolation_level}")
            try:
                await _queued(session.run_queued, "SELECT 1", (), self._lastrowid)
            except BaseException:
                await self._end_if_no_transaction()
                raise
        total = 0
        columns: tuple[str, ...] = ()
        for each in values:
            raw, _ = await self._statement(sql, each)
            if raw[1] or raw[4] is not None:
                raise sqlite3.ProgrammingError("executemany() can only execute DML statements.")
            columns = raw[0]
            total += max(raw[2], 0)
        return (columns, [], total, self._lastrowid, None), kind


class SQLiteRepository(SQLiteFile):
    """A SQLite file run by SQL, on the native engine: the calls of asap-protocol's
    ``AsyncSqliteRepository`` (see the module's notes for how each runs).

    Args:
        db_path: Database file or ``":memory:"`` (one private database per repository).
        durability, timeout: as for :class:`~asap_native.SQLiteSnapshotStore`.
    """

    _native: _core.NativeRepository

    _open_native = staticmethod(_core.open_sqlite_repository)

    @property
    def _in_memory(self) -> bool:
        """``":memory:"``: one private database, for this engine alone."""
        return str(self._db_path) == ":memory:"

    @classmethod
    def _on(
        cls, native: _core.NativeRepository, db_path: str | os.PathLike[str]
    ) -> SQLiteRepository:
        """The repository view of a store's own engine (the store closes it)."""
        repository = cls.__new__(cls)
        repository._native = native
        repository._db_path = Path(db_path)
        return repository

    async def execute(self, sql: str, params: Parameters | None = ()) -> int:
        """Run a write statement; it is committed when this returns. Returns the rows changed
        (-1 for a statement that is not INSERT/UPDATE/DELETE/REPLACE)."""
        self._refuse_wait("execute()")
        sql = _checked_sql(sql, "execute")
        raw: _Raw = await _queued(self._native.execute_queued, sql, _params(params), None)
        return raw[2]

    async def fetch_all(self, sql: str, params: Parameters | None = ()) -> list[tuple[Any, ...]]:
        """Run a query on a reader connection; every row as a tuple."""
        if self._in_memory:
            self._refuse_wait("fetch_all()")
        sql = _checked_sql(sql, "execute")
        raw: _Raw = await _queued(self._native.fetch_queued, sql, _params(params), None)
        if raw[4] is not None:
            raise raw[4]
        return raw[1]

    async def fetch_one(self, sql: str, params: Parameters | None = ()) -> tuple[Any, ...] | None:
        """Run a query on a reader connection; the first row as a tuple, or None."""
        if self._in_memory:
            self._refuse_wait("fetch_one()")
        sql = _checked_sql(sql, "execute")
        raw: _Raw = await _queued(self._native.fetch_queued, sql, _params(params), None)
        rows = raw[1]
        if rows:
            return rows[0]
        if raw[4] is not None:
            raise raw[4]
        return None

    def connection(self, isolation_level: str | None = "") -> Connection:
        """A new :class:`Connection` on this repository (close it, or use ``async with``)."""
        return Connection(self, isolation_level)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """``BEGIN IMMEDIATE`` on the writer connection; COMMIT when the block ends, ROLLBACK
        on any exception. Use the yielded connection inside: this repository's own
        ``execute()`` or ``transaction()`` would wait for the transaction to end, so they raise
        RuntimeError (asap-protocol's would wait forever on its write lock)."""
        self._refuse_wait("transaction()")
        connection = Connection(self)
        connection._open_session("BEGIN IMMEDIATE", for_transaction=True)
        try:
            yield connection
            await connection.commit()
        except BaseException:
            with suppress(Exception):  # the error that got us here is the one to report
                await connection.rollback()
            raise
        finally:
            connection._closed = True

    def _refuse_wait(self, call: str) -> None:
        """Raise rather than wait for a transaction the running task itself holds on this
        repository (it would wait forever)."""
        held = _held_by_task(self._native)
        if held is None:
            return
        if held:  # transaction()
            raise RuntimeError(
                f"{call} inside this repository's own transaction() would wait for that "
                "transaction to end: run the statement on the connection transaction() yields"
            )
        error = sqlite3.OperationalError("database is locked")
        setattr(error, "sqlite_errorcode", _BUSY)  # noqa: B010
        setattr(error, "sqlite_errorname", "SQLITE_BUSY")  # noqa: B010
        raise error


def _params(params: Parameters | None) -> Parameters:
    return () if params is None else params


class SQLiteRepositoryMethods:
    """asap-protocol's stores are ``AsyncSqliteRepository``s: these are that class's public
    methods, on a SQLite store, running on the store's own connections and threads."""

    _native: Any  # a native store with sql_repository()
    _db_path: Path
    _sql_view: SQLiteRepository | None = None

    @property
    def _sql(self) -> SQLiteRepository:
        if self._sql_view is None:
            self._sql_view = SQLiteRepository._on(self._native.sql_repository(), self._db_path)
        return self._sql_view

    async def initialize(self) -> None:
        """Create the store's table if missing: done when the store was opened."""

    async def execute(self, sql: str, params: Parameters | None = ()) -> int:
        """Run a write query on this store's database; committed on return (see
        :meth:`SQLiteRepository.execute`)."""
        return await self._sql.execute(sql, params)

    async def fetch_all(self, sql: str, params: Parameters | None = ()) -> list[tuple[Any, ...]]:
        """Run a read query on this store's database; every row as a tuple."""
        return await self._sql.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Parameters | None = ()) -> tuple[Any, ...] | None:
        """Run a read query on this store's database; the first row, or None."""
        return await self._sql.fetch_one(sql, params)

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` on this store's database (see
        :meth:`SQLiteRepository.transaction`)."""
        return self._sql.transaction()


# ---- transactions the running task holds ---------------------------------------------------

# (engine, connection, session, opened by transaction()) for every session the running task
# opened: work it queued behind one of them would wait for it forever.
_Held = tuple[Any, "weakref.ref[Connection]", Any, bool]
_held: contextvars.ContextVar[tuple[_Held, ...]] = contextvars.ContextVar(
    "asap_native_held_sessions", default=()
)


def _live(entry: _Held) -> bool:
    connection = entry[1]()
    return connection is not None and connection._session is entry[2]


def _hold(connection: Connection, session: Any, for_transaction: bool) -> None:
    entries = tuple(entry for entry in _held.get() if _live(entry))
    _held.set((*entries, (connection._native, weakref.ref(connection), session, for_transaction)))


def _held_by_task(native: Any, other_than: Connection | None = None) -> bool | None:
    """Whether the running task holds a session on ``native`` (None: no; True: from
    transaction(); False: an implicit transaction of a connection)."""
    found: bool | None = None
    for entry in _held.get():
        if entry[0] is native and entry[1]() is not other_than and _live(entry):
            found = found or entry[3]
    return found
