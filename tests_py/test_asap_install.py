"""asap_native.integration.install(): an unmodified asap-protocol picks up the native stores and the
bounded decoder; uninstall() puts every original back.

Every test runs with install() undone afterwards (autouse finalizer), so the rest of the suite
sees asap-protocol as shipped. Originals are compared by identity across every ``asap.*``
module, not only the names install() reports.
"""

from __future__ import annotations

import gzip
import importlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import pytest
from _asap_server import echo_app as asap_echo_app
from _asap_server import make_manifest, sized_task_body
from _bombs import brotli_bomb, gzip_bomb
from asap.models.constants import MAX_REQUEST_SIZE
from conftest import assert_same_snapshot, make_snapshot
from fastapi import HTTPException

import asap_native
import asap_native.integration as native_asap
from asap_native.compression import DecompressionError, DecompressionLimitExceededError

# Everything install() may touch, imported up front so the identity snapshots below cover it.
ASAP_MODULES = (
    "asap.state",
    "asap.state.snapshot",
    "asap.state.metering",
    "asap.state.stores",
    "asap.state.stores.sqlite",
    "asap.state.stores.memory",
    "asap.transport",
    "asap.transport.compression",
    "asap.transport._request_handler",
    "asap.transport.server",
    "asap.state.stores._sqlite_base",
    "asap.auth.webauthn_store",
)
for _name in ASAP_MODULES:
    importlib.import_module(_name)

# asap's own classes and functions, taken before any test installs anything.
from asap.state.stores.sqlite import SQLiteAsyncSnapshotStore as AsapAsyncStore  # noqa: E402
from asap.state.stores.sqlite import SQLiteSnapshotStore as AsapSQLiteSnapshotStore  # noqa: E402
from asap.transport.compression import decompress_payload as asap_decompress_payload  # noqa: E402

NATIVE_CLASSES = {
    "SQLiteSnapshotStore": asap_native.SQLiteSnapshotStore,
    "SQLiteAsyncSnapshotStore": asap_native.SQLiteAsyncSnapshotStore,
    "SQLiteMeteringStore": asap_native.SQLiteMeteringStore,
    "InMemorySnapshotStore": asap_native.InMemorySnapshotStore,
    "AsyncInMemorySnapshotStore": asap_native.AsyncInMemorySnapshotStore,
    "InMemoryMeteringStore": asap_native.InMemoryMeteringStore,
}
STORE_FACTORIES = {"create_snapshot_store", "create_async_snapshot_store"}
SQLITE_CLASS_BINDINGS = [
    ("asap.state", "SQLiteSnapshotStore"),
    ("asap.state", "SQLiteMeteringStore"),
    ("asap.state.stores", "SQLiteSnapshotStore"),
    ("asap.state.stores", "SQLiteAsyncSnapshotStore"),
    ("asap.state.stores", "SQLiteMeteringStore"),
    ("asap.state.stores.sqlite", "SQLiteSnapshotStore"),
    ("asap.state.stores.sqlite", "SQLiteAsyncSnapshotStore"),
    ("asap.state.stores.sqlite", "SQLiteMeteringStore"),
]
MEMORY_CLASS_BINDINGS = [
    ("asap.state", "InMemorySnapshotStore"),
    ("asap.state", "InMemoryMeteringStore"),
    ("asap.state.stores", "InMemorySnapshotStore"),
    ("asap.state.stores", "AsyncInMemorySnapshotStore"),
    ("asap.state.stores", "InMemoryMeteringStore"),
    ("asap.state.stores.memory", "InMemorySnapshotStore"),
    ("asap.state.stores.memory", "AsyncInMemorySnapshotStore"),
    ("asap.state.stores.memory", "InMemoryMeteringStore"),
]
SYNC_FACTORY_MODULES = ("asap.state", "asap.state.stores", "asap.transport.server")
ASYNC_FACTORY_MODULES = ("asap.state", "asap.state.snapshot", "asap.state.stores")
REPOSITORY_METHODS = (
    "_acquire_connection",
    "_release_connection",
    "_connect",
    "execute",
    "fetch_all",
    "fetch_one",
    "transaction",
)
WEBAUTHN_METHODS = ("save_credential", "get_credential", "list_credentials", "update_sign_count")
# What the issues require install() to replace, at least (by default).
REQUIRED_NAMES = {
    *(f"{module}.{name}" for module, name in SQLITE_CLASS_BINDINGS),
    *(f"asap.state.stores._sqlite_base.AsyncSqliteRepository.{m}" for m in REPOSITORY_METHODS),
    *(f"asap.auth.webauthn_store.SQLiteWebAuthnCredentialStore.{m}" for m in WEBAUTHN_METHODS),
    "asap.transport._request_handler.decompress_payload",
}


def too_large(limit: int) -> str:
    """The 413 detail: asap-protocol's wording, with what the native decoder knows."""
    return f"Decompressed request size (more than {limit} bytes) exceeds maximum ({limit} bytes)"


MIB = 1 << 20


# Every asap class ever seen here: a class install() swaps out of a module is no longer
# reachable from it, but its own attributes must still be compared.
ASAP_CLASSES: dict[int, type] = {}


def class_bindings() -> dict[tuple[str, str], Any]:
    """The own attributes of asap's classes, by (module, "Class.name")."""
    found: dict[tuple[str, str], Any] = {}
    for cls in list(ASAP_CLASSES.values()):
        for attribute, member in list(vars(cls).items()):
            found[(cls.__module__, f"{cls.__qualname__}.{attribute}")] = member
    return found


def global_bindings(module_name: str, module: Any) -> dict[tuple[str, str], Any]:
    """A module's globals by (module, name); remembers the asap classes among them."""
    found: dict[tuple[str, str], Any] = {}
    for name, value in list(vars(module).items()):
        found[(module_name, name)] = value
        if isinstance(value, type) and value.__module__.startswith("asap."):
            ASAP_CLASSES.setdefault(id(value), value)
    return found


def module_bindings() -> dict[tuple[str, str], Any]:
    """What install() may touch in the modules it touches, and in asap's classes."""
    found: dict[tuple[str, str], Any] = {}
    for module_name in ASAP_MODULES:
        found.update(global_bindings(module_name, sys.modules[module_name]))
    return {**found, **class_bindings()}


# asap-protocol as shipped, before any test here ran.
PRISTINE = module_bindings()


@pytest.fixture(autouse=True)
def _always_uninstall() -> Iterator[None]:
    assert not native_asap.installed(), "a previous test left install() in place"
    try:
        yield
    finally:
        native_asap.uninstall()
    # Each test ends with asap-protocol exactly as shipped, whatever it did in between.
    assert changed(PRISTINE, module_bindings()) == set()


@pytest.fixture
def storage_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "env_state.db"
    monkeypatch.setenv("ASAP_STORAGE_BACKEND", "sqlite")
    monkeypatch.setenv("ASAP_STORAGE_PATH", str(path))
    return path


def bindings() -> dict[tuple[str, str], Any]:
    """Every global of every loaded ``asap`` module and every attribute of its classes."""
    found: dict[tuple[str, str], Any] = {}
    for module_name, module in list(sys.modules.items()):
        if module is not None and (module_name == "asap" or module_name.startswith("asap.")):
            found.update(global_bindings(module_name, module))
    return {**found, **class_bindings()}


def changed(before: dict[tuple[str, str], Any], after: dict[tuple[str, str], Any]) -> set[str]:
    return {
        f"{module}.{name}"
        for (module, name), value in before.items()
        if (module, name) not in after or after[(module, name)] is not value
    }


def attr(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


# ---- what changes, and what comes back -------------------------------------------------------


def test_replaced_names_lists_exactly_what_changed() -> None:
    before = bindings()
    names = native_asap.install()
    after = bindings()

    assert native_asap.installed()
    assert len(names) == len(set(names))
    assert set(names) == changed(before, after)
    assert set(names) >= REQUIRED_NAMES
    assert native_asap.replaced_names() == names
    # Only existing names are rebound: nothing is added to asap's modules.
    modules_before = {module for module, _ in before}
    added = {key for key in after if key not in before and key[0] in modules_before}
    assert not added


def test_uninstall_restores_every_original() -> None:
    before = bindings()
    native_asap.install()
    native_asap.uninstall()

    assert not native_asap.installed()
    assert native_asap.replaced_names() == []
    assert changed(before, bindings()) == set()
    assert attr("asap.transport._request_handler.decompress_payload") is asap_decompress_payload
    assert attr("asap.state.stores.sqlite.SQLiteSnapshotStore") is AsapSQLiteSnapshotStore


def test_install_is_idempotent_and_wraps_nothing_twice() -> None:
    before = bindings()
    first = native_asap.install()
    once = bindings()
    second = native_asap.install()

    assert second == first
    assert changed(once, bindings()) == set()  # the second call rebinds nothing
    # One uninstall() undoes both calls: the originals kept are asap's, not the first wrappers.
    native_asap.uninstall()
    assert changed(before, bindings()) == set()
    native_asap.uninstall()  # and a second one has nothing left to do
    assert changed(before, bindings()) == set()


def test_install_uninstall_cycles_return_to_the_start() -> None:
    before = bindings()
    names = native_asap.install()
    for _ in range(3):
        native_asap.uninstall()
        assert changed(before, bindings()) == set()
        assert native_asap.install() == names
        assert attr("asap.state.stores.SQLiteSnapshotStore") is asap_native.SQLiteSnapshotStore
    native_asap.uninstall()
    assert changed(before, bindings()) == set()


def test_concurrent_installs_keep_the_true_originals() -> None:
    before = bindings()
    barrier = threading.Barrier(8)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(native_asap.install())
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert len(results) == 8
    assert all(result == results[0] for result in results)
    native_asap.uninstall()
    assert changed(before, bindings()) == set()


def test_uninstall_without_install_changes_nothing() -> None:
    before = bindings()
    native_asap.uninstall()
    assert changed(before, bindings()) == set()
    assert not native_asap.installed()


# ---- store classes and factories -------------------------------------------------------------


@pytest.mark.parametrize(("module", "name"), SQLITE_CLASS_BINDINGS, ids=lambda v: str(v))
def test_store_classes_resolve_to_native(module: str, name: str) -> None:
    shipped = attr(f"{module}.{name}")
    assert shipped is not NATIVE_CLASSES[name]
    assert shipped.__module__.startswith("asap.")

    native_asap.install()
    assert attr(f"{module}.{name}") is NATIVE_CLASSES[name]
    native_asap.uninstall()
    assert attr(f"{module}.{name}") is shipped


@pytest.mark.parametrize(("module", "name"), MEMORY_CLASS_BINDINGS, ids=lambda v: str(v))
def test_memory_store_classes_are_swapped_only_when_asked(module: str, name: str) -> None:
    shipped = attr(f"{module}.{name}")
    native_asap.install()
    assert attr(f"{module}.{name}") is shipped  # asap's keep the very objects saved
    native_asap.uninstall()

    native_asap.install(memory_stores=True)
    assert attr(f"{module}.{name}") is NATIVE_CLASSES[name]
    native_asap.uninstall()
    assert attr(f"{module}.{name}") is shipped


def test_parts_install_only_their_names() -> None:
    for part in native_asap.PARTS:
        chosen = {name: name == part for name in native_asap.PARTS}
        names = native_asap.install(**chosen)
        assert native_asap.installed() == {part}
        assert names, part
        if part == "compression":
            assert all("decompress_payload" in name for name in names)
        elif part == "repository":
            assert all(".AsyncSqliteRepository." in n or ".SQLiteWebAuthn" in n for n in names)
        else:
            # The stores part also wraps asap's factories (for ASAP_STORAGE_BACKEND=postgresql).
            factories = STORE_FACTORIES if part == "stores" else set()
            assert all(n.rpartition(".")[2] in {*NATIVE_CLASSES, *factories} for n in names)
        native_asap.uninstall()
        assert not native_asap.installed()


def test_install_with_other_parts_needs_uninstall_first() -> None:
    native_asap.install(compression=False)
    with pytest.raises(RuntimeError, match="uninstall"):
        native_asap.install()
    assert native_asap.installed() == {"stores", "repository"}


def test_asap_outside_the_tested_versions_needs_force(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.0.0")
    with pytest.raises(RuntimeError, match="force=True"):
        native_asap.install()
    assert not native_asap.installed()
    with pytest.warns(RuntimeWarning, match="9.0.0"):
        native_asap.install(force=True)
    assert native_asap.installed()


def test_a_missing_target_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import asap.auth.webauthn_store as webauthn

    before = bindings()
    monkeypatch.delattr(webauthn.SQLiteWebAuthnCredentialStore, "update_sign_count")
    with pytest.raises(AttributeError, match="update_sign_count"):
        native_asap.install()
    assert not native_asap.installed()
    after = bindings()
    gone = "asap.auth.webauthn_store.SQLiteWebAuthnCredentialStore.update_sign_count"
    assert changed(before, after) == {gone}
    monkeypatch.undo()
    assert changed(before, bindings()) == set()


@pytest.mark.parametrize("module", SYNC_FACTORY_MODULES)
def test_create_snapshot_store_hands_out_native_sqlite(module: str, storage_env: Path) -> None:
    native_asap.install()
    store = attr(f"{module}.create_snapshot_store")()
    try:
        assert type(store) is asap_native.SQLiteSnapshotStore
        assert store.db_path == storage_env
        snapshot = make_snapshot("env_task", 3, {"from": module})
        store.save(snapshot)
        # asap's own store reads what the native one wrote to the file the env names.
        assert_same_snapshot(AsapSQLiteSnapshotStore(storage_env).get("env_task"), snapshot)
    finally:
        store.close()


@pytest.mark.parametrize("module", SYNC_FACTORY_MODULES)
def test_create_snapshot_store_backends(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    factory = attr(f"{module}.create_snapshot_store")
    asaps_memory_store = attr("asap.state.stores.memory.InMemorySnapshotStore")
    monkeypatch.delenv("ASAP_STORAGE_BACKEND", raising=False)
    for parts, memory_class in [
        ({}, asaps_memory_store),
        ({"memory_stores": True}, asap_native.InMemorySnapshotStore),
    ]:
        native_asap.install(**parts)
        monkeypatch.delenv("ASAP_STORAGE_BACKEND", raising=False)
        assert type(factory()) is memory_class
        monkeypatch.setenv("ASAP_STORAGE_BACKEND", " Memory ")
        assert type(factory()) is memory_class
        monkeypatch.setenv("ASAP_STORAGE_BACKEND", "redis")
        with pytest.raises(ValueError, match="ASAP_STORAGE_BACKEND"):
            factory()
        native_asap.uninstall()


@pytest.mark.parametrize("module", ASYNC_FACTORY_MODULES)
async def test_create_async_snapshot_store_hands_out_native(
    module: str, storage_env: Path, tmp_path: Path
) -> None:
    native_asap.install(memory_stores=True)
    factory = attr(f"{module}.create_async_snapshot_store")

    explicit = factory("sqlite", db_path=tmp_path / "explicit.db")
    from_env = factory()
    memory = factory("memory")
    try:
        assert type(explicit) is asap_native.SQLiteAsyncSnapshotStore
        assert explicit.db_path == tmp_path / "explicit.db"
        assert type(from_env) is asap_native.SQLiteAsyncSnapshotStore
        assert from_env.db_path == storage_env
        assert type(memory) is asap_native.AsyncInMemorySnapshotStore

        snapshot = make_snapshot("async_task", 2, {"module": module}, checkpoint=True)
        await from_env.save(snapshot)
        assert_same_snapshot(await from_env.get("async_task"), snapshot)
        assert_same_snapshot(await AsapAsyncStore(storage_env).get("async_task", 2), snapshot)
        with pytest.raises(ValueError, match="backend"):
            factory("postgres")
    finally:
        explicit.close()
        from_env.close()
        memory.close()


# ---- the request handler's decoder -----------------------------------------------------------


def handler_decoder() -> Any:
    return attr("asap.transport._request_handler.decompress_payload")


@pytest.mark.parametrize("bomb", [gzip_bomb, brotli_bomb], ids=["gzip", "br"])
def test_bomb_is_413_as_soon_as_the_output_passes_the_limit(bomb: Any) -> None:
    encoding = "gzip" if bomb is gzip_bomb else "br"
    # The stream is damaged after 8 MiB of output: a decoder that inflated it whole would
    # report the damage; one that stops at the 1 MiB limit never gets there.
    data = bomb(8 * MIB, corrupt_tail=True)
    with pytest.raises(Exception) as shipped:
        asap_decompress_payload(data, encoding)
    assert not isinstance(shipped.value, HTTPException)

    native_asap.install(max_size=MIB)
    with pytest.raises(DecompressionLimitExceededError) as raised:
        handler_decoder()(data, encoding)
    assert isinstance(raised.value, HTTPException)  # asap's handler answers it as is
    assert raised.value.status_code == 413
    assert not isinstance(raised.value, (OSError, ValueError))
    assert raised.value.max_size == MIB


@pytest.mark.parametrize("bomb", [gzip_bomb, brotli_bomb], ids=["gzip", "br"])
def test_limit_comes_from_asap_max_request_size(bomb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    encoding = "gzip" if bomb is gzip_bomb else "br"
    monkeypatch.setenv("ASAP_MAX_REQUEST_SIZE", str(2 * MIB))
    native_asap.install()
    decode = handler_decoder()
    assert decode(bomb(2 * MIB), encoding) == bytes(2 * MIB)  # exactly at the limit
    with pytest.raises(DecompressionLimitExceededError) as raised:
        decode(bomb(3 * MIB), encoding)
    assert raised.value.max_size == 2 * MIB
    # An explicit max_size still wins over the installed default.
    with pytest.raises(DecompressionLimitExceededError):
        decode(bomb(MIB), encoding, max_size=MIB - 1)


def test_default_limit_is_asap_max_request_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASAP_MAX_REQUEST_SIZE", raising=False)
    native_asap.install()
    decode = handler_decoder()
    assert len(decode(gzip_bomb(MAX_REQUEST_SIZE), "gzip")) == MAX_REQUEST_SIZE
    with pytest.raises(DecompressionLimitExceededError) as raised:
        decode(gzip_bomb(MAX_REQUEST_SIZE + MIB, corrupt_tail=True), "gzip")
    assert raised.value.max_size == MAX_REQUEST_SIZE


PAYLOAD = b'{"jsonrpc": "2.0", "text": "' + "données ".encode() * 500 + b'"}'
GZ = gzip.compress(PAYLOAD)
BR = brotli.compress(PAYLOAD)


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("gzip", b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"\xff\xff\xff\xff"),
        ("gzip", b"not gzip at all"),
        ("gzip", GZ[: len(GZ) // 2]),
        ("gzip", GZ[:-4] + b"\x00\x00\x00\x00"),
        ("br", b"\xff\xff\xff\xff not brotli"),
        ("br", BR[: len(BR) // 2]),
    ],
    ids=["gzip-bad-block", "gzip-bad-magic", "gzip-truncated", "gzip-bad-crc", "br-bad", "br-cut"],
)
def test_corrupt_data_is_an_oserror(encoding: str, data: bytes) -> None:
    native_asap.install()
    with pytest.raises(OSError) as raised:  # asap's handler answers OSError/EOFError with 400
        handler_decoder()(data, encoding)
    assert isinstance(raised.value, DecompressionError)
    assert not isinstance(raised.value, HTTPException)


def test_decoder_round_trips_and_keeps_the_encoding_contract() -> None:
    native_asap.install()
    decode = handler_decoder()
    assert decode(GZ, "gzip") == PAYLOAD
    assert decode(BR, " BR ") == PAYLOAD
    assert decode(PAYLOAD, "identity") == PAYLOAD
    assert decode(PAYLOAD, "") == PAYLOAD
    with pytest.raises(ValueError, match="Unsupported Content-Encoding"):
        decode(PAYLOAD, "zstd")
    # The public asap.transport names get the native function itself.
    assert attr("asap.transport.compression.decompress_payload") is (
        asap_native.compression.decompress_payload
    )
    assert attr("asap.transport.decompress_payload") is asap_native.compression.decompress_payload


# ---- the server ------------------------------------------------------------------------------


def test_create_app_without_stores_uses_a_native_store(
    storage_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_app = attr("asap.transport.server.create_app")
    native_asap.install()

    app = create_app(make_manifest())
    store = app.state.snapshot_store
    try:
        assert type(store) is asap_native.SQLiteSnapshotStore
        assert store.db_path == storage_env
    finally:
        store.close()

    monkeypatch.setenv("ASAP_STORAGE_BACKEND", "memory")
    in_memory = create_app(make_manifest()).state.snapshot_store
    assert type(in_memory) is attr("asap.state.stores.memory.InMemorySnapshotStore")

    native_asap.uninstall()
    shipped = create_app(make_manifest()).state.snapshot_store
    assert not isinstance(shipped, (asap_native.InMemorySnapshotStore,))
    assert type(shipped).__module__.startswith("asap.")


async def post_to(app: Any, body: bytes, encoding: str) -> Any:
    """One POST /asap to the app in process (no socket)."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://asap.test") as client:
        return await client.post(
            "/asap",
            content=body,
            headers={"content-type": "application/json", "content-encoding": encoding},
            timeout=60,
        )


def json_request(size: int) -> bytes:
    """A valid task.request JSON-RPC body of exactly ``size`` bytes."""
    return sized_task_body(size, "limit_task", "r1")


def echo_app(max_request_size: int) -> Any:
    return asap_echo_app(
        max_request_size=max_request_size, snapshot_store=asap_native.InMemorySnapshotStore()
    )


async def test_decoder_follows_each_apps_max_request_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """An app configured above the env default still accepts what asap accepts."""
    monkeypatch.setenv("ASAP_MAX_REQUEST_SIZE", str(MIB))
    native_asap.install()
    roomy, tight = echo_app(4 * MIB), echo_app(MIB // 2)

    body = json_request(2 * MIB)
    assert (await post_to(roomy, gzip.compress(body), "gzip")).status_code == 200
    assert (await post_to(roomy, brotli.compress(body), "br")).status_code == 200
    # Below the env default, the app's own limit stops the decoder (the native 413).
    refused = await post_to(tight, gzip_bomb(2 * MIB, corrupt_tail=True), "gzip")
    assert refused.status_code == 413
    assert refused.json()["detail"] == too_large(MIB // 2)
    # Called outside asap's handler, the env default applies.
    with pytest.raises(DecompressionLimitExceededError) as raised:
        handler_decoder()(gzip_bomb(2 * MIB), "gzip")
    assert raised.value.max_size == MIB


async def test_install_max_size_caps_every_app() -> None:
    native_asap.install(max_size=MIB)
    roomy = echo_app(4 * MIB)
    assert (await post_to(roomy, gzip.compress(json_request(MIB)), "gzip")).status_code == 200
    refused = await post_to(roomy, gzip.compress(json_request(MIB + 1)), "gzip")
    assert refused.status_code == 413
    assert refused.json()["detail"] == too_large(MIB)


def test_the_earlier_module_name_is_the_same_module() -> None:
    import asap_native.asap

    assert asap_native.asap is native_asap
    assert asap_native.asap.install is native_asap.install
