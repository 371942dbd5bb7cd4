"""asap_native.repository against what it stands in for: the same SQL on aiosqlite (the
connections asap-protocol's ``AsyncSqliteRepository`` opens) and on :class:`SQLiteRepository`'s
connections, the same results, the same exception types and sqlite3's messages; the
repository's own calls against asap-protocol's ``AsyncSqliteRepository`` as shipped; then what
only the native engine has (one writer shared by every connection, sessions, the refusal of
waits on the caller's own transaction, cancellation, many tasks, close with work queued).

Each side runs on its own database file, so Python's sqlite3 and a bundled SQLite never open
the same file in this process.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import methodcaller
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from _async_helpers import PATIENCE
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from asap_native.repository import Cursor, SQLiteRepository

# ---- the differential harness ----------------------------------------------------------------


def shape(value: Any) -> Any:
    """What a call gave, in a form both sides can be compared in."""
    if isinstance(value, sqlite3.Row):
        return ("Row", tuple(value.keys()), shape(tuple(value)))
    if isinstance(value, (aiosqlite.Cursor, Cursor)):
        return "<cursor>"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, tuple):
        return tuple(shape(item) for item in value)
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return value


def failure(error: BaseException) -> tuple[Any, ...]:
    """An exception as compared: its exact class, message and SQLite error name."""
    return ("raised", type(error), str(error), getattr(error, "sqlite_errorname", None))


# A step of a scenario: a label and SQL (and its parameters), or a call on the connection.
Step = tuple[str, str | bytes | Callable[[Any], Awaitable[Any]]] | tuple[str, str, Any]
# The connection's own commit() and rollback(), as steps among SQL statements.
COMMIT, ROLLBACK = methodcaller("commit"), methodcaller("rollback")


@dataclass
class Trace:
    """Every outcome of a scenario, in order."""

    events: list[tuple[Any, ...]] = field(default_factory=list)

    async def __call__(self, label: str, awaitable: Awaitable[Any]) -> Any:
        """Await, record the result (or the exception) under ``label``, return the result."""
        try:
            value = await awaitable
        except Exception as error:
            self.events.append((label, *failure(error)))
            return None
        self.events.append((label, shape(value)))
        return value

    def note(self, label: str, get: Callable[[], Any]) -> None:
        """Record a property read (or what reading it raised)."""
        try:
            value = get()
        except Exception as error:
            self.events.append((label, *failure(error)))
            return
        self.events.append((label, shape(value)))

    async def run(self, label: str, conn: Any, sql: str, parameters: Any = ()) -> Any:
        """Execute on ``conn``; record the cursor's description, rowcount, lastrowid, rows."""
        cursor = await self(label, conn.execute(sql, parameters))
        if cursor is not None:
            await self.cursor(label, cursor)
        return cursor

    async def steps(self, conn: Any, steps: Iterable[Step]) -> None:
        """Each step on ``conn`` (SQL through run(), else the call), then whether ``conn`` is in
        a transaction after it."""
        for label, step, *parameters in steps:
            if callable(step):
                await self(label, step(conn))
            else:
                await self.run(label, conn, step, *parameters)
            self.note(f"{label}: in_transaction", lambda: conn.in_transaction)

    async def cursor(self, label: str, cursor: Any) -> None:
        self.note(f"{label}.description", lambda: cursor.description)
        self.note(f"{label}.rowcount", lambda: cursor.rowcount)
        self.note(f"{label}.lastrowid", lambda: cursor.lastrowid)
        await self(f"{label}.rows", cursor.fetchall())


class Side:
    """One implementation: aiosqlite connections, or connections on a SQLiteRepository."""

    def __init__(self, kind: str, path: str) -> None:
        self.kind = kind
        self.path = path
        self.repo = SQLiteRepository(path) if kind == "native" else None
        self._opened: list[Any] = []

    async def connect(self, isolation_level: str | None = "") -> Any:
        if self.repo is not None:
            conn: Any = self.repo.connection(isolation_level)
        else:
            conn = await aiosqlite.connect(self.path, isolation_level=isolation_level)
        self._opened.append(conn)
        return conn

    async def close(self) -> None:
        for conn in self._opened:
            await conn.close()
        if self.repo is not None:
            self.repo.close()


Scenario = Callable[[Side, Trace], Awaitable[None]]


async def traces_of(scenario: Scenario, directory: Path, *, memory: bool = False) -> list[Any]:
    """The traces of ``scenario`` on aiosqlite and on the native repository, in that order."""
    traces = []
    for kind in ("aiosqlite", "native"):
        side = Side(kind, ":memory:" if memory else str(directory / f"{kind}.db"))
        trace = Trace()
        try:
            await asyncio.wait_for(scenario(side, trace), PATIENCE)
        finally:
            await side.close()
        traces.append(trace.events)
    return traces


async def assert_same(scenario: Scenario, directory: Path, *, memory: bool = False) -> None:
    expected, got = await traces_of(scenario, directory, memory=memory)
    for index, (want, have) in enumerate(zip(expected, got, strict=False)):
        assert have == want, f"step {index}: native {have!r} != aiosqlite {want!r}"
    assert len(got) == len(expected)


SCENARIOS: dict[str, Scenario] = {}


def scenario(function: Scenario) -> Scenario:
    SCENARIOS[function.__name__] = function
    return function


TABLE = "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE, v)"


# ---- scenarios: one connection -----------------------------------------------------------------


@scenario
async def statements_and_cursors(side: Side, t: Trace) -> None:
    c = await side.connect()
    await t.steps(
        c,
        [
            ("create", TABLE),
            ("insert", "INSERT INTO t(name, v) VALUES (?, ?)", ("a", 1)),
            ("insert named", "INSERT INTO t(name, v) VALUES (:n, :v)", {"n": "b", "v": 2.5}),
            ("insert @$", "INSERT INTO t(name, v) VALUES (@n, $v)", {"n": "c", "v": None}),
            ("numbered", "SELECT ?2, ?1", (1, 2)),
            ("select", "SELECT * FROM t ORDER BY id"),
            ("select none", "SELECT * FROM t WHERE 0"),
            ("update", "UPDATE t SET v = 7 WHERE name != 'zz'"),
            ("update none", "UPDATE t SET v = 7 WHERE 0"),
            ("delete", "DELETE FROM t WHERE name = 'c'"),
            ("returning", "INSERT INTO t(name) VALUES ('r') RETURNING id, name"),
            ("delete returning", "DELETE FROM t WHERE name = 'r' RETURNING id"),
            ("replace", "REPLACE INTO t(id, name, v) VALUES (1, 'a', 'replaced')"),
            (
                "upsert",
                "INSERT INTO t(name, v) VALUES ('a', 0) ON CONFLICT(name) DO UPDATE SET v = 9",
            ),
            ("insert select", "INSERT INTO t(name) SELECT name || '2' FROM t"),
            ("pragma", "PRAGMA user_version"),
            ("values", "VALUES (1, 'x'), (2, 'y')"),
            ("with", "WITH x(n) AS (SELECT 1) SELECT n FROM x"),
            ("explain", "EXPLAIN QUERY PLAN SELECT * FROM t WHERE id = 1"),
            ("comments", "/* c */ -- line\n  SELECT 'after comments' AS x"),
            ("trailing semicolon", "SELECT 1;  "),
            ("trailing comment", "SELECT 1; -- done"),
            ("commit", COMMIT),
        ],
    )
    t.note("total_changes", lambda: c.total_changes)


@scenario
async def values_round_trip(side: Side, t: Trace) -> None:
    c = await side.connect()
    values = [
        None,
        0,
        -1,
        2**63 - 1,
        -(2**63),
        1.5,
        -0.0,
        float("inf"),
        float("nan"),
        "",
        "text é 日本 🦀",
        "nul \x00 inside",
        b"",
        b"\x00\xff bytes",
        bytearray(b"array"),
        memoryview(b"view"),
        True,
        False,
    ]
    await t.run("create", c, "CREATE TABLE v(x)")
    for index, value in enumerate(values):
        await t.run(f"bind {index}", c, "SELECT ?, typeof(?)", (value, value))
        await t.run(f"store {index}", c, "INSERT INTO v VALUES (?)", (value,))
    await t.steps(
        c,
        [
            ("read back", "SELECT x, typeof(x) FROM v ORDER BY rowid"),
            ("sql literals", "SELECT 1, 2.5, 'x', X'0102', NULL, 9223372036854775807"),
            ("int beyond 64 bits", "SELECT ?", (2**63,)),
            ("negative beyond 64 bits", "SELECT ?", (-(2**63) - 1,)),
            ("lone surrogate", "SELECT ?", ("\ud800",)),
            ("invalid utf-8 text", "SELECT CAST(X'61FF62' AS TEXT) AS bad"),
            ("invalid utf-8 after nul", "SELECT CAST(X'6100FF' AS TEXT) AS bad"),
            ("rollback", ROLLBACK),
        ],
    )


@scenario
async def parameters(side: Side, t: Trace) -> None:
    c = await side.connect()
    await t.steps(
        c,
        [
            ("too many", "SELECT ?", (1, 2)),
            ("too few", "SELECT ?, ?", (1,)),
            ("none for one", "SELECT ?"),
            ("missing name", "SELECT :a", {"b": 1}),
            ("dict for ?", "SELECT ?", {"a": 1}),
            ("dict extra names", "SELECT :a", {"a": 1, "b": 2}),
            ("unsupported", "SELECT ?", ([1],)),
            ("unsupported second", "SELECT ?, ?", (1, {})),
            ("unsupported named", "SELECT :a", {"a": object()}),
            ("unsupported, not used", "SELECT :a", {"a": 1, "b": [1], ":a": {}}),
            ("name prefix of another", "SELECT :ab", {"ab": 1, "a": [2]}),
            ("params None", "SELECT 1", None),
            ("params list", "SELECT ?, ?", [1, "x"]),
            ("params str", "SELECT ?", "a"),
            ("params str, count", "SELECT ?", "ab"),
            ("params bytes", "SELECT ?, ?", b"ab"),
            ("params int", "SELECT ?", 1),
            ("params set", "SELECT ?", {1}),
            ("params generator", "SELECT ?", (x for x in [1])),
            ("params range", "SELECT ?, ?", range(2)),
            ("empty dict", "SELECT 1", {}),
            ("sql not str", b"SELECT 1"),
            ("nul in sql", "SELECT 1\x00"),
            ("surrogate in sql", "SELECT '\ud800'"),
            ("two statements", "SELECT 1; SELECT 2"),
            ("two semicolons", "SELECT 1;;"),
            ("leading semicolon", "; SELECT 1"),
            ("empty", ""),
            ("blank", "  \n "),
            ("only a comment", "-- nothing"),
            ("only semicolons", ";;"),
            ("empty with parameters", "-- c", (1,)),
            ("empty with dict", "/* c */", {"a": [1]}),
            ("unterminated comment", "SELECT 1 /* open"),
        ],
    )


class Conforming:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __conform__(self, protocol: Any) -> Any:
        return f"conformed {self.value}" if protocol is sqlite3.PrepareProtocol else None


class ConformFails:
    def __conform__(self, protocol: Any) -> Any:
        raise ValueError("cannot conform")


class Adapted:
    pass


class AdapterFails:
    pass


class AdaptedToList:
    pass


@pytest.fixture(autouse=True)
def _adapters() -> Iterator[None]:
    sqlite3.register_adapter(Adapted, lambda value: "adapted")
    sqlite3.register_adapter(AdapterFails, lambda value: 1 / 0)
    sqlite3.register_adapter(AdaptedToList, lambda value: [1])
    try:
        yield
    finally:
        for cls in (Adapted, AdapterFails, AdaptedToList):
            sqlite3.adapters.pop((cls, sqlite3.PrepareProtocol), None)


@scenario
async def adapters(side: Side, t: Trace) -> None:
    c = await side.connect()
    await t.steps(
        c,
        [
            ("__conform__", "SELECT ?", (Conforming(3),)),
            ("__conform__ raises", "SELECT ?", (ConformFails(),)),
            ("registered adapter", "SELECT ?", (Adapted(),)),
            ("adapter raises", "SELECT ?", (AdapterFails(),)),
            ("adapter gives a list", "SELECT ?", (AdaptedToList(),)),
            ("adapter by name", "SELECT :a", {"a": Adapted()}),
            ("int subclass", "SELECT ?, typeof(?)", (True, False)),
            ("str subclass", "SELECT typeof(?)", (type("S", (str,), {})("x"),)),
        ],
    )


@scenario
async def fetching(side: Side, t: Trace) -> None:
    c = await side.connect()
    three = "SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3"
    cursor = await c.cursor()
    t.note("fresh rowcount", lambda: cursor.rowcount)
    t.note("fresh lastrowid", lambda: cursor.lastrowid)
    t.note("fresh description", lambda: cursor.description)
    t.note("fresh arraysize", lambda: cursor.arraysize)
    await t("fetch before execute", cursor.fetchall())
    await t("execute", cursor.execute(three))
    await t("fetchone", cursor.fetchone())
    await t("fetchmany default", cursor.fetchmany())
    await t("fetchmany 5", cursor.fetchmany(5))
    await t("fetchone at end", cursor.fetchone())
    await t("fetchall at end", cursor.fetchall())
    await t("again", cursor.execute(three))
    cursor.arraysize = 2
    await t("fetchmany arraysize", cursor.fetchmany())
    await t("fetchmany 0", cursor.fetchmany(0))
    await t("fetchall rest", cursor.fetchall())
    await t("iterate", _collect(await c.execute(three)))
    await t("execute_fetchall", c.execute_fetchall(three))
    async with c.execute(three) as managed:
        await t("async with", managed.fetchall())
    await t("closed by async with", managed.fetchone())
    await t("close", cursor.close())
    await t("close twice", cursor.close())
    await t("fetchone closed", cursor.fetchone())
    await t("fetchall closed", cursor.fetchall())
    await t("fetchmany closed", cursor.fetchmany())
    await t("execute closed", cursor.execute("SELECT 1"))
    await t("executemany closed", cursor.executemany("SELECT 1", []))
    t.note("rowcount closed", lambda: cursor.rowcount)


async def _collect(cursor: Any) -> list[Any]:
    return [row async for row in cursor]


@scenario
async def row_factories(side: Side, t: Trace) -> None:
    c = await side.connect()
    query = 'SELECT 1 AS a, \'x\' AS B, NULL AS "odd ""name"""'
    c.row_factory = sqlite3.Row
    row = await (await c.execute(query)).fetchone()
    t.note("keys", lambda: row.keys())
    t.note("by name", lambda: (row["a"], row["b"], row["B"], row['odd "name"']))
    t.note("by index", lambda: (row[0], row[-1], row[1:]))
    t.note("len, tuple", lambda: (len(row), tuple(row)))
    t.note("missing name", lambda: row["nope"])
    await t("Row fetchall", c.execute_fetchall(query))
    await t("Row duplicate names", c.execute_fetchall("SELECT 1 AS a, 2 AS a"))
    await t("execute_insert", c.execute_insert("SELECT 1"))

    def as_dict(cursor: Any, values: tuple[Any, ...]) -> dict[str, Any]:
        return {column[0]: value for column, value in zip(cursor.description, values, strict=True)}

    c.row_factory = as_dict
    await t("custom factory", c.execute_fetchall(query))
    cursor = await c.execute(query)
    cursor.row_factory = None
    await t("cursor factory None", cursor.execute("SELECT 2 AS z"))
    await t("cursor factory None rows", cursor.fetchall())
    c.row_factory = lambda cursor, values: values[0]
    await t("scalar factory", c.execute_fetchall("SELECT 5 UNION ALL SELECT 6"))
    c.row_factory = None
    await t("plain", c.execute_fetchall(query))
    c.text_factory = bytes
    await t("text_factory bytes", c.execute_fetchall("SELECT 'abc', 1, X'01', 'é'"))
    c.text_factory = lambda raw: raw.decode().upper()
    await t("text_factory callable", c.execute_fetchall("SELECT 'abc', NULL"))
    c.text_factory = str
    await t("text_factory str", c.execute_fetchall("SELECT 'abc'"))


@scenario
async def implicit_transactions(side: Side, t: Trace) -> None:
    c = await side.connect()
    t.note("isolation_level", lambda: c.isolation_level)
    await t.steps(
        c,
        [
            ("create", TABLE),
            ("select", "SELECT count(*) FROM t"),
            ("insert", "INSERT INTO t(name) VALUES ('a')"),
            ("DDL in the transaction", "CREATE TABLE u(x)"),
            ("rollback", ROLLBACK),
            ("gone with it", "SELECT name FROM sqlite_master WHERE name IN ('t', 'u')"),
            ("insert again", "INSERT INTO t(name) VALUES ('b')"),
            ("constraint", "INSERT INTO t(name) VALUES ('b')"),
            ("commit", COMMIT),
            ("commit with none open", COMMIT),
            ("rollback with none open", ROLLBACK),
            ("BEGIN", "BEGIN"),
            ("BEGIN twice", "BEGIN"),
            ("select in it", "SELECT name FROM t"),
            ("COMMIT", "COMMIT"),
            ("COMMIT twice", "COMMIT"),
            ("END with none", "END"),
            ("BEGIN IMMEDIATE", "BEGIN IMMEDIATE"),
            ("insert c", "INSERT INTO t(name) VALUES ('c')"),
            ("ROLLBACK", "ROLLBACK"),
            ("SAVEPOINT outside", "SAVEPOINT s1"),
            ("insert d", "INSERT INTO t(name) VALUES ('d')"),
            ("SAVEPOINT inner", "SAVEPOINT s2"),
            ("insert e", "INSERT INTO t(name) VALUES ('e')"),
            ("ROLLBACK TO", "ROLLBACK TO s2"),
            ("RELEASE inner", "RELEASE s2"),
            ("RELEASE outer", "RELEASE s1"),
            ("kept", "SELECT name FROM t ORDER BY name"),
            ("insert f", "INSERT INTO t(name) VALUES ('f')"),
            ("OR ROLLBACK conflict", "INSERT OR ROLLBACK INTO t(name) VALUES ('f')"),
            ("rolled back", "SELECT name FROM t ORDER BY name"),
            ("syntax error", "SELEC 1"),
            ("no such table", "SELECT * FROM nope"),
            ("insert no such table", "INSERT INTO nope VALUES (1)"),
            ("not null", "INSERT INTO t(id) VALUES ('x')"),
            ("rollback end", ROLLBACK),
        ],
    )


@scenario
async def scripts(side: Side, t: Trace) -> None:
    c = await side.connect()
    await t("script DDL", c.executescript(TABLE + "; CREATE INDEX i ON t(v);"))
    await t.run("insert", c, "INSERT INTO t(name) VALUES ('pending')")
    t.note("pending", lambda: c.in_transaction)
    await t("script commits first", c.executescript("INSERT INTO t(name) VALUES ('s1');"))
    t.note("after script", lambda: c.in_transaction)
    await t("rollback", c.rollback())
    await t.run("kept", c, "SELECT name FROM t ORDER BY id")
    await t(
        "script fails half way",
        c.executescript(
            "INSERT INTO t(name) VALUES ('s2'); SELEC 1; INSERT INTO t(name) VALUES ('s3');"
        ),
    )
    t.note("after failed script", lambda: c.in_transaction)
    await t(
        "script with its own transaction",
        c.executescript("BEGIN; INSERT INTO t(name) VALUES ('s4'); COMMIT;"),
    )
    await t("script leaving it open", c.executescript("BEGIN; INSERT INTO t(name) VALUES ('s5');"))
    t.note("open after script", lambda: c.in_transaction)
    await t("rollback it", c.rollback())
    await t.run("after scripts", c, "SELECT name FROM t ORDER BY id")
    await t("empty script", c.executescript(""))
    await t("script constraint", c.executescript("INSERT INTO t(name) VALUES ('s1');"))
    cursor = await c.cursor()
    await t("cursor script", cursor.executescript("INSERT INTO t(name) VALUES ('s6');"))
    await t.cursor("cursor after script", cursor)


@scenario
async def executemany(side: Side, t: Trace) -> None:
    c = await side.connect()
    await t.run("create", c, TABLE)
    cursor = await t(
        "many", c.executemany("INSERT INTO t(name, v) VALUES (?, ?)", [("a", 1), ("b", 2)])
    )
    await t.cursor("many", cursor)
    cursor = await t(
        "many named", c.executemany("INSERT INTO t(name) VALUES (:n)", [{"n": "c"}, {"n": "d"}])
    )
    await t.cursor("many named", cursor)
    cursor = await t(
        "many generator", c.executemany("INSERT INTO t(name) VALUES (?)", ((n,) for n in "ef"))
    )
    await t.cursor("many generator", cursor)
    cursor = await t("many empty", c.executemany("INSERT INTO t(name) VALUES (?)", []))
    await t.cursor("many empty", cursor)
    cursor = await t(
        "many update", c.executemany("UPDATE t SET v = ? WHERE name = ?", [(9, "a"), (9, "zz")])
    )
    await t.cursor("many update", cursor)
    await t(
        "many constraint", c.executemany("INSERT INTO t(name) VALUES (?)", [("g",), ("a",), ("h",)])
    )
    await t.run("after constraint", c, "SELECT name FROM t ORDER BY id")
    await t("many select", c.executemany("SELECT ?", [(1,), (2,)]))
    await t("many DDL", c.executemany("CREATE TABLE x(a)", [()]))
    await t(
        "many bad parameters", c.executemany("INSERT INTO t(name) VALUES (?)", [("i",), (1, 2)])
    )
    await t("many not iterable", c.executemany("INSERT INTO t(name) VALUES (?)", 5))
    await t.run("none of those", c, "SELECT name FROM t ORDER BY id")
    reused = await c.execute("INSERT INTO t(name) VALUES ('j')")
    await t("reused cursor many", reused.executemany("INSERT INTO t(name) VALUES (?)", [("k",)]))
    await t.cursor("reused cursor many", reused)
    await t("rollback", c.rollback())


@scenario
async def lastrowid(side: Side, t: Trace) -> None:
    c = await side.connect()
    other = await side.connect()
    await t.steps(
        c,
        [
            ("create", TABLE),
            ("insert", "INSERT INTO t(name) VALUES ('a')"),
            ("commit", COMMIT),
        ],
    )
    await t.run("insert elsewhere", other, "INSERT INTO t(name) VALUES ('b')")
    await t("commit elsewhere", other.commit())
    await t.steps(
        c,
        [
            ("select after", "SELECT 1"),
            ("ignored insert", "INSERT OR IGNORE INTO t(name) VALUES ('a')"),
            ("update", "UPDATE t SET v = 1"),
            ("pragma", "PRAGMA user_version"),
            ("rollback", ROLLBACK),
            ("after rollback", "SELECT 1"),
            ("explicit rowid", "INSERT INTO t(id, name) VALUES (100, 'c')"),
            ("without rowid table", "CREATE TABLE w(k PRIMARY KEY) WITHOUT ROWID"),
            ("insert without rowid", "INSERT INTO w VALUES ('k')"),
            ("failed insert", "INSERT INTO t(name) VALUES ('a')"),
            ("after failure", "SELECT 1"),
            ("execute_insert", methodcaller("execute_insert", "INSERT INTO t(name) VALUES ('d')")),
            (
                "execute_insert ignored",
                methodcaller("execute_insert", "INSERT OR IGNORE INTO t(name) VALUES ('d')"),
            ),
            ("commit again", COMMIT),
        ],
    )
    await t.run("other connection's own", other, "SELECT 1")


@scenario
async def isolation_levels(side: Side, t: Trace) -> None:
    auto = await side.connect(None)
    t.note("None", lambda: auto.isolation_level)
    await t.steps(
        auto,
        [
            ("create", TABLE),
            ("insert autocommit", "INSERT INTO t(name) VALUES ('a')"),
            ("explicit BEGIN", "BEGIN"),
            ("insert in it", "INSERT INTO t(name) VALUES ('b')"),
            ("ROLLBACK", "ROLLBACK"),
        ],
    )
    for level in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
        conn = await side.connect(level)
        t.note(f"{level} level", lambda conn=conn: conn.isolation_level)
        await t.run(f"{level} insert", conn, "INSERT INTO t(name) VALUES (?)", (level,))
        t.note(f"{level} open", lambda conn=conn: conn.in_transaction)
        await t(f"{level} commit", conn.commit())
        await t(f"{level} close", conn.close())
    await t.run("all", auto, "SELECT name FROM t ORDER BY id")


@scenario
async def foreign_keys_pragma(side: Side, t: Trace) -> None:
    c = await side.connect()
    await t.steps(
        c,
        [
            ("parent", "CREATE TABLE p(id INTEGER PRIMARY KEY)"),
            ("child", "CREATE TABLE ch(pid REFERENCES p(id))"),
            ("off by default", "PRAGMA foreign_keys"),
            ("dangling allowed", "INSERT INTO ch VALUES (1)"),
            ("rollback", ROLLBACK),
            ("turn on", "PRAGMA foreign_keys = ON"),
            ("on", "PRAGMA foreign_keys"),
            ("dangling refused", "INSERT INTO ch VALUES (1)"),
            ("parent row", "INSERT INTO p VALUES (1)"),
            ("child row", "INSERT INTO ch VALUES (1)"),
            ("parent delete refused", "DELETE FROM p"),
            ("commit", COMMIT),
        ],
    )


# ---- scenarios: several connections on one database (files only) -------------------------------


@scenario
async def connections_see_committed_work(side: Side, t: Trace) -> None:
    a = await side.connect()
    b = await side.connect()
    await t.run("create", a, TABLE)
    await t.run("a inserts", a, "INSERT INTO t(name) VALUES ('a')")
    await t.run("b does not see it", b, "SELECT name FROM t")
    await t("a commits", a.commit())
    await t.run("b sees it", b, "SELECT name FROM t")
    await t.run("a inserts more", a, "INSERT INTO t(name) VALUES ('lost')")
    await t("a closes", a.close())
    await t.run("close rolled it back", b, "SELECT name FROM t ORDER BY id")
    t.note("closed in_transaction", lambda: a.in_transaction)
    await t("closed execute", a.execute("SELECT 1"))
    await t("closed commit", a.commit())
    await t("closed rollback", a.rollback())
    await t("closed cursor()", a.cursor())
    await t("closed executescript", a.executescript("SELECT 1"))
    await t("closed close", a.close())
    c = await side.connect()
    cursor = await c.execute("SELECT 1")
    await t("c closes", c.close())
    await t("cursor of a closed connection", cursor.fetchall())
    await t("execute on it", cursor.execute("SELECT 2"))
    await t("close it", cursor.close())
    t.note("its rowcount", lambda: cursor.rowcount)


@scenario
async def uncommitted_write_blocks_a_second_writer_read_goes_on(side: Side, t: Trace) -> None:
    a = await side.connect()
    b = await side.connect()
    await t.run("create", a, TABLE)
    await t.run("a reads", a, "SELECT count(*) FROM t")
    await t.run("b writes", b, "INSERT INTO t(name) VALUES ('b')")
    await t.run("a still reads", a, "SELECT count(*) FROM t")
    await t("b commits", b.commit())
    await t.run("a reads it", a, "SELECT count(*) FROM t")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_same_as_aiosqlite_on_a_file(name: str, tmp_path: Path) -> None:
    await assert_same(SCENARIOS[name], tmp_path)


SINGLE_CONNECTION = [
    name
    for name in sorted(SCENARIOS)
    if name
    not in {
        "lastrowid",
        "connections_see_committed_work",
        "uncommitted_write_blocks_a_second_writer_read_goes_on",
        "isolation_levels",
    }
]


@pytest.mark.parametrize("name", SINGLE_CONNECTION)
async def test_same_as_aiosqlite_in_memory(name: str, tmp_path: Path) -> None:
    await assert_same(SCENARIOS[name], tmp_path, memory=True)


# ---- random sequences of statements, both sides ------------------------------------------------

VALUES = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=8),
)
KEYS = st.integers(0, 5)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), KEYS, VALUES),
        st.tuples(st.just("insert or replace"), KEYS, VALUES),
        st.tuples(st.just("insert or ignore"), KEYS, VALUES),
        st.tuples(st.just("update"), KEYS, VALUES),
        st.tuples(st.just("delete"), KEYS),
        st.tuples(st.just("select"), KEYS),
        st.tuples(st.just("select all")),
        st.tuples(st.just("many"), st.lists(st.tuples(KEYS, VALUES), max_size=3)),
        st.tuples(st.just("script"), KEYS),
        st.tuples(st.just("commit")),
        st.tuples(st.just("rollback")),
        st.tuples(st.just("BEGIN")),
        st.tuples(st.just("COMMIT")),
        st.tuples(st.just("ROLLBACK")),
        st.tuples(st.just("SAVEPOINT"), st.sampled_from(["a", "b"])),
        st.tuples(st.just("RELEASE"), st.sampled_from(["a", "b"])),
        st.tuples(st.just("ROLLBACK TO"), st.sampled_from(["a", "b"])),
        st.tuples(st.just("ddl"), st.booleans()),
        st.tuples(st.just("reopen")),
        st.tuples(st.just("other reads")),
        st.tuples(st.just("other writes"), KEYS),
    ),
    max_size=25,
)
LEVELS = st.sampled_from(["", "DEFERRED", "IMMEDIATE", None])


async def _random_program(side: Side, t: Trace, level: str | None, operations: list[Any]) -> None:
    c = await side.connect(level)
    other = await side.connect(None)
    await t.run("create", c, "CREATE TABLE kv(k INTEGER PRIMARY KEY, v)")
    for index, operation in enumerate(operations):
        label, *args = operation
        step = f"{index} {label}"
        if label == "insert":
            await t.run(step, c, "INSERT INTO kv VALUES (?, ?)", tuple(args))
        elif label == "insert or replace":
            await t.run(step, c, "INSERT OR REPLACE INTO kv VALUES (?, ?)", tuple(args))
        elif label == "insert or ignore":
            await t.run(
                step, c, "INSERT OR IGNORE INTO kv VALUES (:k, :v)", {"k": args[0], "v": args[1]}
            )
        elif label == "update":
            await t.run(step, c, "UPDATE kv SET v = ? WHERE k = ?", (args[1], args[0]))
        elif label == "delete":
            await t.run(step, c, "DELETE FROM kv WHERE k >= ?", (args[0],))
        elif label == "select":
            await t.run(step, c, "SELECT v FROM kv WHERE k = ?", (args[0],))
        elif label == "select all":
            await t.run(step, c, "SELECT * FROM kv ORDER BY k")
        elif label == "many":
            cursor = await t(step, c.executemany("INSERT INTO kv VALUES (?, ?)", args[0]))
            if cursor is not None:
                await t.cursor(step, cursor)
        elif label == "script":
            await t(
                step, c.executescript(f"INSERT OR REPLACE INTO kv VALUES ({args[0]}, 'script');")
            )
        elif label in ("commit", "rollback"):
            await t(step, getattr(c, label)())
        elif label in ("SAVEPOINT", "RELEASE", "ROLLBACK TO"):
            await t.run(step, c, f"{label} {args[0]}")
        elif label in ("BEGIN", "COMMIT", "ROLLBACK"):
            await t.run(step, c, label)
        elif label == "ddl":
            sql = "CREATE TABLE IF NOT EXISTS extra(x)" if args[0] else "DROP TABLE IF EXISTS extra"
            await t.run(step, c, sql)
        elif label == "reopen":
            await t(step, c.close())
            c = await side.connect(level)
        elif label == "other reads":
            await t.run(step, other, "SELECT * FROM kv ORDER BY k")
        elif label == "other writes" and not c.in_transaction:
            # Only while c holds no write lock: aiosqlite would wait out its busy timeout.
            await t.run(step, other, "INSERT OR REPLACE INTO kv VALUES (?, 'other')", (args[0],))
        t.note(f"{step} in_transaction", lambda c=c: c.in_transaction)
    await t("close", c.close())
    await t.run("what was committed", other, "SELECT * FROM kv ORDER BY k")
    t.note("total_changes", lambda: other.total_changes)


@settings(max_examples=examples(60))
@given(level=LEVELS, operations=OPERATIONS)
def test_random_statement_sequences_match_aiosqlite(
    level: str | None, operations: list[Any]
) -> None:
    async def both() -> None:
        with tempfile.TemporaryDirectory() as directory:
            await assert_same(
                lambda side, t: _random_program(side, t, level, operations), Path(directory)
            )

    asyncio.run(both())
