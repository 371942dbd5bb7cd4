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
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asap_native.repository import Connection, Parameters, SQLiteRepository

__all__ = ["REPOSITORY_METHODS", "WEBAUTHN_METHODS"]

# Each repository (or WebAuthn store) instance keeps its engine in an attribute of its own,
# so the engine lives, and is closed, with the instance.
_ENGINE = "_asap_native_engine"
_SCHEMA_READY = "_asap_native_schema_ready"


def _engine(owner: Any) -> SQLiteRepository:
    engine: SQLiteRepository | None = owner.__dict__.get(_ENGINE)
    if engine is None:
        memory = getattr(owner, "_is_memory", False) or str(owner._db_path) == ":memory:"
        engine = SQLiteRepository(":memory:" if memory else owner._db_path)
        engine = owner.__dict__.setdefault(_ENGINE, engine)
    return engine


# ---- AsyncSqliteRepository --------------------------------------------------------------------


async def _ensure_initialized(self: Any) -> None:
    if not self._initialized:
        async with self._connect():  # runs self._ensure_schema(conn), overrides included
            pass


async def _acquire_connection(self: Any) -> Connection:
    """A connection on this repository's engine (close it with ``_release_connection``)."""
    return _engine(self).connection()


async def _release_connection(self: Any, conn: Connection) -> None:
    """Close ``conn``: what it did not commit is rolled back."""
    await conn.close()


@asynccontextmanager
async def _connect(self: Any) -> AsyncIterator[Connection]:
    """A connection with the schema ensured; closed (uncommitted work rolled back) after."""
    conn = _engine(self).connection()
    try:
        await self._ensure_schema(conn)
        yield conn
    finally:
        await conn.close()


async def execute(self: Any, sql: str, params: Parameters = ()) -> int:
    """Run a write query; commit; return the affected row count (group-committed natively)."""
    await _ensure_initialized(self)
    return await _engine(self).execute(sql, params)


async def fetch_all(self: Any, sql: str, params: Parameters = ()) -> list[tuple[Any, ...]]:
    """Run a read query; return all rows as tuples."""
    await _ensure_initialized(self)
    return await _engine(self).fetch_all(sql, params)


async def fetch_one(self: Any, sql: str, params: Parameters = ()) -> tuple[Any, ...] | None:
    """Run a read query; return the first row as a tuple, or ``None``."""
    await _ensure_initialized(self)
    return await _engine(self).fetch_one(sql, params)


@asynccontextmanager
async def transaction(self: Any) -> AsyncIterator[Connection]:
    """Yield one connection inside BEGIN IMMEDIATE/COMMIT; ROLLBACK on any exception."""
    await _ensure_initialized(self)
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
    engine = _engine(self)
    if not self.__dict__.get(_SCHEMA_READY):  # asap runs it on every call; once is enough
        async with engine.connection() as conn:
            await self._ensure_schema(conn)
            await conn.commit()
        self.__dict__[_SCHEMA_READY] = True
    return engine


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
