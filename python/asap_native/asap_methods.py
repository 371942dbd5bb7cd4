"""Native methods for asap-protocol's own SQLite classes, which
:func:`asap_native.integration.install` puts on those classes (so every instance and every
subclass, asap's and yours, created before or after, runs on the native engine):

- ``asap.state.stores._sqlite_base.AsyncSqliteRepository``: ``_acquire_connection``,
  ``_release_connection``, ``_connect``, ``execute``, ``fetch_all``, ``fetch_one``,
  ``transaction``. The base keeps its ``__init__`` and ``_ensure_schema``, so subclasses'
  schemas and migrations (``_ensure_schema`` overrides) run as written, on a
  :class:`~asap_native.repository.Connection`. Each repository instance gets its own engine
  (``:memory:`` its own database), as each asap instance has its own connections.
- ``asap.auth.webauthn_store.SQLiteWebAuthnCredentialStore``: its four public methods.

Each replacement keeps the original's signature, results and exceptions.

The schema (``_ensure_schema``, asap's or a subclass's) is ensured once per instance, by one
task at a time whatever thread or event loop it runs on: asap's own ``asyncio.Lock`` guarding
it belongs to one loop, and handlers that run ``asyncio.run(...)`` on worker threads would
otherwise race on it. A ``:memory:`` repository used before ``install()`` keeps its data: its
aiosqlite connection's database is copied into the engine first.

A subclass that overrides ``_connect`` (to set a PRAGMA on every connection, say) gets it:
``execute``/``fetch_*``/``transaction`` then run through ``self._connect()`` as asap's base
does (without group commit).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asap_native.repository import Connection, Parameters, SQLiteRepository, _hold

__all__ = ["REPOSITORY_METHODS", "WEBAUTHN_METHODS"]

# Each repository (or WebAuthn store) instance keeps its engine in an attribute of its own,
# so the engine lives, and is closed, with the instance.
_ENGINE = "_asap_native_engine"
_SCHEMA_READY = "_asap_native_schema_ready"
_SCHEMA_GATE = "_asap_native_schema_gate"
_gate_lock = threading.Lock()


def _engine(owner: Any) -> SQLiteRepository:
    engine: SQLiteRepository | None = owner.__dict__.get(_ENGINE)
    if engine is None:
        memory = getattr(owner, "_is_memory", False) or str(owner._db_path) == ":memory:"
        engine = SQLiteRepository(":memory:" if memory else owner._db_path)
        engine = owner.__dict__.setdefault(_ENGINE, engine)
    return engine


async def _schema_once(owner: Any) -> None:
    """Run ``owner._ensure_schema`` on the engine until it succeeds once; one caller at a time
    (others, on any thread or loop, wait for it and look again)."""
    while not owner.__dict__.get(_SCHEMA_READY):
        with _gate_lock:
            if owner.__dict__.get(_SCHEMA_READY):
                return
            running: concurrent.futures.Future[None] | None = owner.__dict__.get(_SCHEMA_GATE)
            if running is None:
                mine: concurrent.futures.Future[None] = concurrent.futures.Future()
                owner.__dict__[_SCHEMA_GATE] = mine
        if running is not None:
            # Shielded: a waiter's cancellation must not cancel the others' wait.
            await asyncio.shield(asyncio.wrap_future(running))
            continue
        try:
            await _copy_memory_database(owner)
            async with _engine(owner).connection() as conn:
                await owner._ensure_schema(conn)
                await conn.commit()
            owner.__dict__[_SCHEMA_READY] = True
        finally:
            with _gate_lock:
                del owner.__dict__[_SCHEMA_GATE]
            mine.set_result(None)


async def _copy_memory_database(owner: Any) -> None:
    """A ``:memory:`` repository asap used before install() has its database in its own
    aiosqlite connection: copy it into the engine (which starts empty)."""
    persistent = owner.__dict__.get("_persistent_conn")
    if persistent is None or not _engine(owner)._in_memory:
        return
    script = "\n".join([line async for line in persistent.iterdump()])
    async with _engine(owner).connection() as conn:
        await conn.executescript(script)


def _connect_overridden(self: Any) -> bool:
    return getattr(type(self), "_connect", _connect) is not _connect


# ---- AsyncSqliteRepository --------------------------------------------------------------------


async def _acquire_connection(self: Any) -> Connection:
    """A connection on this repository's engine (close it with ``_release_connection``)."""
    await _schema_once(self)
    return _engine(self).connection()


async def _release_connection(self: Any, conn: Connection) -> None:
    """Close ``conn``: what it did not commit is rolled back."""
    await conn.close()


@asynccontextmanager
async def _connect(self: Any) -> AsyncIterator[Connection]:
    """A connection with the schema ensured; closed (uncommitted work rolled back) after."""
    await _schema_once(self)
    conn = _engine(self).connection()
    try:
        await self._ensure_schema(conn)
        yield conn
    finally:
        await conn.close()


async def execute(self: Any, sql: str, params: Parameters | None = ()) -> int:
    """Run a write query; commit; return the affected row count (group-committed natively)."""
    if _connect_overridden(self):
        async with self._connect() as conn:
            cursor = await conn.execute(sql, params)
            await conn.commit()
            return cursor.rowcount if cursor.rowcount is not None else 0
    await _schema_once(self)
    return await _engine(self).execute(sql, params)


async def fetch_all(self: Any, sql: str, params: Parameters | None = ()) -> list[tuple[Any, ...]]:
    """Run a read query; return all rows as tuples."""
    if _connect_overridden(self):
        async with self._connect() as conn:
            cursor = await conn.execute(sql, params)
            return [tuple(row) for row in await cursor.fetchall()]
    await _schema_once(self)
    return await _engine(self).fetch_all(sql, params)


async def fetch_one(self: Any, sql: str, params: Parameters | None = ()) -> tuple[Any, ...] | None:
    """Run a read query; return the first row as a tuple, or ``None``."""
    if _connect_overridden(self):
        async with self._connect() as conn:
            cursor = await conn.execute(sql, params)
            row = await cursor.fetchone()
            return tuple(row) if row else None
    await _schema_once(self)
    return await _engine(self).fetch_one(sql, params)


@asynccontextmanager
async def transaction(self: Any) -> AsyncIterator[Connection]:
    """Yield one connection inside BEGIN IMMEDIATE/COMMIT; ROLLBACK on any exception."""
    if _connect_overridden(self):
        _engine(self)._refuse_wait("transaction()")
        async with self._connect() as conn:
            await conn.execute("BEGIN IMMEDIATE")
            if isinstance(conn, Connection) and conn._session is not None:
                _hold(conn, conn._session, True)  # a transaction(), as execute() sees it
            try:
                yield conn
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
        return
    await _schema_once(self)
    async with _engine(self).transaction() as conn:
        yield conn


REPOSITORY_METHODS: dict[str, Any] = {
    "_acquire_connection": _acquire_connection,
    "_release_connection": _release_connection,
    "_connect": _connect,
    "execute": execute,
    "fetch_all": fetch_all,
    "fetch_one": fetch_one,
    "transaction": transaction,
}


# ---- SQLiteWebAuthnCredentialStore -------------------------------------------------------------


async def _webauthn_engine(self: Any) -> SQLiteRepository:
    await _schema_once(self)  # asap runs it on every call; once is enough
    return _engine(self)


async def save_credential(
    self: Any, host_id: str, credential_id: bytes, public_key: bytes, sign_count: int
) -> None:
    engine = await _webauthn_engine(self)
    await engine.execute(
        """
                INSERT OR REPLACE INTO webauthn_credentials
                    (host_id, credential_id, public_key, sign_count)
                VALUES (?, ?, ?, ?)
                """,
        (host_id, credential_id, public_key, sign_count),
    )


async def get_credential(self: Any, host_id: str, credential_id: bytes) -> Any:
    from asap.auth.webauthn_store import WebAuthnCredentialRecord

    engine = await _webauthn_engine(self)
    row = await engine.fetch_one(
        """
                SELECT credential_id, public_key, sign_count
                FROM webauthn_credentials
                WHERE host_id = ? AND credential_id = ?
                """,
        (host_id, credential_id),
    )
    if row is None:
        return None
    return WebAuthnCredentialRecord(credential_id=row[0], public_key=row[1], sign_count=int(row[2]))


async def update_sign_count(self: Any, host_id: str, credential_id: bytes, new_count: int) -> None:
    engine = await _webauthn_engine(self)
    changed = await engine.execute(
        """
                UPDATE webauthn_credentials
                SET sign_count = ?
                WHERE host_id = ? AND credential_id = ?
                """,
        (new_count, host_id, credential_id),
    )
    if changed != 1:
        msg = f"no credential for host_id={host_id!r} credential_id={credential_id!r}"
        raise KeyError(msg)


async def list_credentials(self: Any, host_id: str) -> list[bytes]:
    engine = await _webauthn_engine(self)
    rows = await engine.fetch_all(
        """
                SELECT credential_id FROM webauthn_credentials
                WHERE host_id = ?
                """,
        (host_id,),
    )
    return [r[0] for r in rows]


WEBAUTHN_METHODS: dict[str, Any] = {
    "save_credential": save_credential,
    "get_credential": get_credential,
    "update_sign_count": update_sign_count,
    "list_credentials": list_credentials,
}
