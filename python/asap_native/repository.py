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

import contextvars
import os
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
# (column names, rows, rowcount, lastrowid) as the native engine reports a statement.
_Raw = tuple[tuple[str, ...], list[tuple[Any, ...]], int, int]


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
    message = str(error)
    for prefix in _STEP_PREFIXES:
        if message.startswith(prefix):
            message = message[len(prefix) :]
            break
    converted = cls(message)
    # As sqlite3's own errors carry them (Python >= 3.11).
    setattr(converted, "sqlite_errorcode", code)  # noqa: B010
    setattr(converted, "sqlite_errorname", error.sqlite_errorname)  # noqa: B010
    return converted


async def _run(future: Awaitable[_ResultT]) -> _ResultT:
    """Await a native call; its StoreError becomes the sqlite3 exception."""
    try:
        return await future
    except StoreError as error:
        raise _sqlite3_error(error) from None


# ---- statement kinds, from the first keyword (as Python's sqlite3 reads it) ------------------

_READ, _WRITE, _DML, _BEGIN, _COMMIT, _ROLLBACK = range(6)
_KIND_OF_KEYWORD = {
    "SELECT": _READ,
    "WITH": _READ,
    "VALUES": _READ,
    "EXPLAIN": _READ,
    "PRAGMA": _READ,
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
        kind = _KIND_OF_KEYWORD.get(_first_keyword(sql), _WRITE)
        if kind == _ROLLBACK and " TO " in f" {sql.upper()} ":
            kind = _WRITE  # ROLLBACK TO a savepoint: a statement inside the transaction
        if len(_kinds) < 4096:  # asap's SQL is a fixed set; a flood of ad-hoc SQL is not kept
            _kinds[sql] = kind
    return kind


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


class Cursor:
    """The result of a statement, as an aiosqlite cursor gives it (rows are fetched already)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self._next = 0
        self._description: tuple[tuple[str, None, None, None, None, None, None], ...] | None = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self.arraysize = 1
        self.row_factory: Callable[[Any, tuple[Any, ...]], Any] | None = connection.row_factory

    def _load(self, raw: _Raw) -> Cursor:
        columns, rows, rowcount, lastrowid = raw
        self._description = (
            tuple((name, None, None, None, None, None, None) for name in columns)
            if columns
            else None
        )
        factory = self.row_factory
        if factory is None or not columns:
            self._rows = rows
        elif factory is sqlite3.Row:
            source = _row_cursor(columns)
            self._rows = [sqlite3.Row(source, row) for row in rows]
        else:
            self._rows = [factory(self, row) for row in rows]
        self._next = 0
        self._rowcount = rowcount
        self._lastrowid = lastrowid
        return self

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
        """The rowid of the last inserted row (sqlite3_last_insert_rowid)."""
        return self._lastrowid

    async def execute(self, sql: str, parameters: Parameters = ()) -> Cursor:
        return self._load(await self._connection._statement(sql, parameters))

    async def executemany(self, sql: str, parameters: Iterable[Parameters]) -> Cursor:
        return self._load(await self._connection._many(sql, parameters))

    async def executescript(self, sql_script: str) -> Cursor:
        await self._connection.executescript(sql_script)
        return self

    async def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        row = self._rows[self._next]
        self._next += 1
        return row

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        rows = self._rows[self._next : self._next + count]
        self._next += len(rows)
        return rows

    async def fetchall(self) -> list[Any]:
        rows = self._rows[self._next :]
        self._next = len(self._rows)
        return rows

    async def close(self) -> None:
        self._rows = []

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while (row := await self.fetchone()) is not None:
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


class Connection:
    """An aiosqlite-style connection on a :class:`SQLiteRepository` (see the module's notes).

    ``isolation_level`` is sqlite3's: ``""`` (the default: ``BEGIN`` before a DML statement
    outside a transaction), ``"DEFERRED"``, ``"IMMEDIATE"``, ``"EXCLUSIVE"``, or ``None``
    (autocommit: no implicit transaction).
    """

    def __init__(self, repository: SQLiteRepository, isolation_level: str | None = "") -> None:
        self._repository = repository
        self._native = repository._native
        self._session: _core.NativeSession | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._closed = False
        self.isolation_level = isolation_level
        self.row_factory: Callable[[Any, tuple[Any, ...]], Any] | None = None
        self.text_factory: Callable[[bytes], Any] = str
        self._total_changes = 0

    # ---- aiosqlite's API -------------------------------------------------------------------

    def execute(self, sql: str, parameters: Parameters = ()) -> _Pending[Cursor]:
        """Run one statement; await it (or ``async with`` it) for its :class:`Cursor`."""
        return _Pending(Cursor(self).execute(sql, parameters))

    def executemany(self, sql: str, parameters: Iterable[Parameters]) -> _Pending[Cursor]:
        return _Pending(Cursor(self).executemany(sql, parameters))

    async def executescript(self, sql_script: str) -> Cursor:
        """Commit what is pending, then run every statement of the script (no parameters)."""
        self._check_open()
        if self._session is not None:
            await _run(call_queued(self._session.script_queued, sql_script))
            await self._end_if_no_transaction()
        else:
            await _run(call_queued(self._native.script_queued, sql_script))
        return Cursor(self)

    async def execute_fetchall(self, sql: str, parameters: Parameters = ()) -> list[Any]:
        cursor = await self.execute(sql, parameters)
        return await cursor.fetchall()

    async def execute_insert(self, sql: str, parameters: Parameters = ()) -> tuple[int] | None:
        """Run an INSERT; the row ``(last_insert_rowid,)``, as aiosqlite gives it."""
        cursor = await self.execute(sql, parameters)
        return None if cursor.lastrowid is None else (cursor.lastrowid,)

    def cursor(self) -> _Pending[Cursor]:
        async def make() -> Cursor:
            self._check_open()
            return Cursor(self)

        return _Pending(make())

    async def commit(self) -> None:
        """Commit the open transaction, if any (and give the writer connection back)."""
        await self._end(commit=True)

    async def rollback(self) -> None:
        """Roll back the open transaction, if any."""
        await self._end(commit=False)

    async def close(self) -> None:
        """Roll back what was not committed, as closing an aiosqlite connection does."""
        if not self._closed:
            await self._end(commit=False)
            self._closed = True

    @property
    def in_transaction(self) -> bool:
        return self._session is not None and self._session.in_transaction

    @property
    def total_changes(self) -> int:
        """Rows changed through this connection so far."""
        return self._total_changes

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- how statements run --------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")

    def _open_session(self, begin: str) -> _core.NativeSession:
        """Hold the writer connection from ``begin`` (which runs first, in the same hand-over
        as the statement queued right after) until ``_end``."""
        session = self._native.open_session(begin)
        self._session = session
        # Dropped without commit()/close(): roll back, so the writer connection comes back.
        self._finalizer = weakref.finalize(self, session.abandon)
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

    async def _statement(self, sql: str, parameters: Parameters) -> _Raw:
        self._check_open()
        kind = _kind(sql)
        session = self._session
        if session is None:
            if kind == _DML and self.isolation_level is not None:
                session = self._open_session(f"BEGIN {self.isolation_level}")
            elif kind == _BEGIN:
                session = self._open_session("")
            elif kind == _READ:
                return await _run(call_queued(self._native.fetch_queued, sql, parameters))
            else:  # autocommit: DDL, PRAGMA that write, DML with isolation_level None...
                raw: _Raw = await _run(call_queued(self._native.execute_queued, sql, parameters))
                self._total_changes += max(raw[2], 0)
                return raw
        if kind in (_COMMIT, _ROLLBACK):
            await self._end(commit=kind == _COMMIT)
            return ((), [], -1, 0)
        try:
            raw = await _run(call_queued(session.run_queued, sql, parameters))
        finally:
            await self._end_if_no_transaction()
        self._total_changes += max(raw[2], 0)
        return raw

    async def _many(self, sql: str, parameters: Iterable[Parameters]) -> _Raw:
        total = 0
        last: _Raw = ((), [], -1, 0)
        for values in parameters:
            last = await self._statement(sql, values)
            total += max(last[2], 0)
        return (last[0], [], total if _kind(sql) == _DML else -1, last[3])


class SQLiteRepository(SQLiteFile):
    """A SQLite file run by SQL, on the native engine: the calls of asap-protocol's
    ``AsyncSqliteRepository`` (see the module's notes for how each runs).

    Args:
        db_path: Database file or ``":memory:"`` (one private database per repository).
        durability, timeout: as for :class:`~asap_native.SQLiteSnapshotStore`.
    """

    _native: _core.NativeRepository

    _open_native = staticmethod(_core.open_sqlite_repository)

    @classmethod
    def _on(
        cls, native: _core.NativeRepository, db_path: str | os.PathLike[str]
    ) -> SQLiteRepository:
        """The repository view of a store's own engine (the store closes it)."""
        repository = cls.__new__(cls)
        repository._native = native
        repository._db_path = Path(db_path)
        return repository

    async def execute(self, sql: str, params: Parameters = ()) -> int:
        """Run a write statement; it is committed when this returns. Returns the rows changed
        (-1 for a statement that is not INSERT/UPDATE/DELETE/REPLACE)."""
        _refuse_inside_own_transaction(self)
        raw: _Raw = await _run(call_queued(self._native.execute_queued, sql, params))
        return raw[2]

    async def fetch_all(self, sql: str, params: Parameters = ()) -> list[tuple[Any, ...]]:
        """Run a query on a reader connection; every row as a tuple."""
        raw: _Raw = await _run(call_queued(self._native.fetch_queued, sql, params))
        return raw[1]

    async def fetch_one(self, sql: str, params: Parameters = ()) -> tuple[Any, ...] | None:
        """Run a query on a reader connection; the first row as a tuple, or None."""
        raw: _Raw = await _run(call_queued(self._native.fetch_queued, sql, params))
        rows = raw[1]
        return rows[0] if rows else None

    def connection(self, isolation_level: str | None = "") -> Connection:
        """A new :class:`Connection` on this repository (close it, or use ``async with``)."""
        return Connection(self, isolation_level)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """``BEGIN IMMEDIATE`` on the writer connection; COMMIT when the block ends, ROLLBACK
        on any exception. Use the yielded connection inside: this repository's own
        ``execute()`` would wait for the transaction to end, so it raises RuntimeError."""
        connection = Connection(self)
        connection._open_session("BEGIN IMMEDIATE")
        token = _own_transactions.set((*_own_transactions.get(), self._native))
        try:
            yield connection
            await connection.commit()
        except BaseException:
            with suppress(Exception):  # the error that got us here is the one to report
                await connection.rollback()
            raise
        finally:
            _own_transactions.reset(token)
            connection._closed = True


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

    async def execute(self, sql: str, params: Parameters = ()) -> int:
        """Run a write query on this store's database; committed on return (see
        :meth:`SQLiteRepository.execute`)."""
        return await self._sql.execute(sql, params)

    async def fetch_all(self, sql: str, params: Parameters = ()) -> list[tuple[Any, ...]]:
        """Run a read query on this store's database; every row as a tuple."""
        return await self._sql.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Parameters = ()) -> tuple[Any, ...] | None:
        """Run a read query on this store's database; the first row, or None."""
        return await self._sql.fetch_one(sql, params)

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` on this store's database (see
        :meth:`SQLiteRepository.transaction`)."""
        return self._sql.transaction()


# The repositories whose transaction() the running task is inside.
_own_transactions: contextvars.ContextVar[tuple[_core.NativeRepository, ...]] = (
    contextvars.ContextVar("asap_native_own_transactions", default=())
)


def _refuse_inside_own_transaction(repository: SQLiteRepository) -> None:
    if repository._native in _own_transactions.get():
        raise RuntimeError(
            "execute() inside this repository's own transaction() would wait for that "
            "transaction to end: run the statement on the connection transaction() yields"
        )
