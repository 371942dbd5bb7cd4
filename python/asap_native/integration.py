"""Make an unmodified asap-protocol server use asap_native: ``install()`` / ``uninstall()``.

(Also importable as ``asap_native.asap``, its earlier name.)

``install()`` rebinds names inside asap-protocol's modules, so code that looks them up at call
time (as asap's server does) gets the native pieces:

- store factories: ``create_snapshot_store`` (in ``asap.state``, ``asap.state.stores`` and
  ``asap.transport.server``, which imported it by name) and ``create_async_snapshot_store``
  (in ``asap.state``, ``asap.state.snapshot`` and ``asap.state.stores``);
- store classes in ``asap.state``, ``asap.state.stores``, ``asap.state.stores.sqlite`` and
  ``asap.state.stores.memory``: ``SQLiteSnapshotStore``, ``SQLiteAsyncSnapshotStore``,
  ``SQLiteMeteringStore``, ``InMemorySnapshotStore``, ``AsyncInMemorySnapshotStore``,
  ``InMemoryMeteringStore`` (where each module has the name);
- request decompression: ``decompress_payload`` in ``asap.transport._request_handler`` becomes
  the native decoder, bounded by the request size limit of the server calling it (its
  ``max_request_size``, as set by ``create_app(max_request_size=...)``, else
  ``ASAP_MAX_REQUEST_SIZE`` or asap's ``MAX_REQUEST_SIZE``; ``install(max_size=...)`` caps it
  further), so a compression bomb is refused (413) as soon as its output passes the limit
  instead of being inflated whole; and ``decompress_payload`` in ``asap.transport.compression``
  and ``asap.transport``.

Objects created before ``install()`` keep their class, and modules that copied a name before
``install()`` (``from asap.state import SQLiteSnapshotStore`` in your own code) keep the copy:
call ``install()`` first thing, before building the app. ``install()`` is idempotent;
``uninstall()`` restores every original.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from types import FrameType
from typing import Any

from asap_native import compression, metering_store, snapshot_store

__all__ = ["install", "installed", "replaced_names", "uninstall"]

_STORE_CLASSES = {
    "SQLiteSnapshotStore": snapshot_store.SQLiteSnapshotStore,
    "SQLiteAsyncSnapshotStore": snapshot_store.SQLiteAsyncSnapshotStore,
    "SQLiteMeteringStore": metering_store.SQLiteMeteringStore,
    "InMemorySnapshotStore": snapshot_store.InMemorySnapshotStore,
    "AsyncInMemorySnapshotStore": snapshot_store.AsyncInMemorySnapshotStore,
    "InMemoryMeteringStore": metering_store.InMemoryMeteringStore,
}
_CLASS_MODULES = (
    "asap.state",
    "asap.state.stores",
    "asap.state.stores.sqlite",
    "asap.state.stores.memory",
)
_FACTORY_NAMES = {
    "create_snapshot_store": ("asap.state", "asap.state.stores", "asap.transport.server"),
    "create_async_snapshot_store": ("asap.state", "asap.state.snapshot", "asap.state.stores"),
}
_FACTORIES = {
    "create_snapshot_store": snapshot_store.create_snapshot_store,
    "create_async_snapshot_store": snapshot_store.create_async_snapshot_store,
}

_lock = threading.Lock()
_originals: dict[tuple[str, str], Any] = {}


def _default_max_size() -> int:
    from asap.models.constants import MAX_REQUEST_SIZE

    return int(os.environ.get("ASAP_MAX_REQUEST_SIZE", str(MAX_REQUEST_SIZE)))


def _caller_limit(frame: FrameType, handler_class: type, default_limit: int) -> int:
    # asap's ASAPRequestHandler.parse_json_body calls decompress_payload(data, encoding) and only
    # afterwards compares the size with its own max_request_size, which each app may set
    # (create_app(max_request_size=...)): bound the decoder by that same limit, so asap answers
    # as before, only without inflating a bomb whole.
    owner = frame.f_locals.get("self")
    limit = getattr(owner, "max_request_size", None) if isinstance(owner, handler_class) else None
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        return limit
    return default_limit


def _bounded_decompress_payload(default_limit: int, cap: int | None) -> Any:
    from asap.transport._request_handler import ASAPRequestHandler

    def decompress_payload(data: bytes, encoding: str, max_size: int | None = None) -> bytes:
        """asap_native's decompress_payload, bounded by the calling server's request size limit."""
        if max_size is None:
            max_size = _caller_limit(sys._getframe(1), ASAPRequestHandler, default_limit)
            if cap is not None:
                max_size = min(max_size, cap)
        return compression.decompress_payload(data, encoding, max_size=max_size)

    return decompress_payload


def _replacements(max_size: int, cap: int | None) -> list[tuple[str, str, Any]]:
    plan: list[tuple[str, str, Any]] = []
    for module_name in _CLASS_MODULES:
        module = importlib.import_module(module_name)
        for name, native in _STORE_CLASSES.items():
            if hasattr(module, name):
                plan.append((module_name, name, native))
    for name, modules in _FACTORY_NAMES.items():
        for module_name in modules:
            plan.append((module_name, name, _FACTORIES[name]))
    bounded = _bounded_decompress_payload(max_size, cap)
    plan.append(("asap.transport._request_handler", "decompress_payload", bounded))
    plan.append(
        ("asap.transport.compression", "decompress_payload", compression.decompress_payload)
    )
    plan.append(("asap.transport", "decompress_payload", compression.decompress_payload))
    return plan


def install(*, max_size: int | None = None) -> list[str]:
    """Point asap-protocol at the native stores and decoder; returns the names replaced.

    Args:
        max_size: Largest decompressed request body the decoder produces, on top of the
            calling server's own ``max_request_size``. Without it the decoder follows that
            limit, or ``ASAP_MAX_REQUEST_SIZE`` / asap's ``MAX_REQUEST_SIZE`` (10 MiB) when
            called outside asap's request handler.

    Raises:
        ImportError: asap-protocol is not installed.
    """
    with _lock:
        if _originals:
            return replaced_names()
        cap = None if max_size is None else int(max_size)
        # asap.transport builds a default app when first imported, with asap.state.stores'
        # create_snapshot_store(): ours must be in place first, or a backend only ours knows
        # (ASAP_STORAGE_BACKEND=postgresql) fails that import.
        for module_name, name in (
            ("asap.state.stores", "create_snapshot_store"),
            ("asap.state", "create_snapshot_store"),
        ):
            module = importlib.import_module(module_name)  # neither imports asap.transport
            _originals[(module_name, name)] = getattr(module, name)
            setattr(module, name, _FACTORIES[name])
        plan = _replacements(_default_max_size() if cap is None else cap, cap)
        for module_name, name, native in plan:
            module = importlib.import_module(module_name)
            _originals.setdefault((module_name, name), getattr(module, name))
            setattr(module, name, native)
        return replaced_names()


def uninstall() -> None:
    """Restore every name :func:`install` replaced (idempotent)."""
    with _lock:
        for (module_name, name), original in _originals.items():
            setattr(importlib.import_module(module_name), name, original)
        _originals.clear()


def installed() -> bool:
    """True between :func:`install` and :func:`uninstall`."""
    return bool(_originals)


def replaced_names() -> list[str]:
    """The ``module.name`` entries currently replaced."""
    return [f"{module}.{name}" for module, name in _originals]
