"""Make an unmodified asap-protocol server use asap_native: ``install()`` / ``uninstall()``.

(Also importable as ``asap_native.asap``, its earlier name.)

``install()`` swaps, in asap-protocol's own modules and classes, what the parts you ask for
replace (all of them by default, but the in-memory stores):

- ``stores``: the SQLite store classes (``SQLiteSnapshotStore``, ``SQLiteAsyncSnapshotStore``,
  ``SQLiteMeteringStore``) in ``asap.state``, ``asap.state.stores`` and
  ``asap.state.stores.sqlite``. asap's factories (``create_snapshot_store``,
  ``create_async_snapshot_store``, ``create_app`` without a store) look those names up in
  their modules when called, so they hand out the native classes while keeping their own
  handling of ``ASAP_STORAGE_BACKEND`` / ``ASAP_STORAGE_PATH``. The factories themselves
  (``create_snapshot_store``, ``create_async_snapshot_store``) are wrapped so that
  ``ASAP_STORAGE_BACKEND=postgresql``, which only asap_native knows, opens the PostgreSQL
  stores on ``ASAP_STORAGE_URL``; any other backend goes to asap's own factory.
- ``memory_stores`` (off by default): ``InMemorySnapshotStore``, ``AsyncInMemorySnapshotStore``
  and ``InMemoryMeteringStore`` where those modules have them. asap's keep the very objects
  saved; ours keep JSON copies (the SQLite stores' encoding rules), which is why they are not
  swapped unless asked.
- ``repository``: the methods of ``asap.state.stores._sqlite_base.AsyncSqliteRepository`` that
  open connections and run SQL (``_acquire_connection``, ``_release_connection``,
  ``_connect``, ``execute``, ``fetch_all``, ``fetch_one``, ``transaction``), so every
  repository, asap's five subclasses (economics storage, SLA, delegation, audit, the state
  metering store) and your own, existing instances included, runs on the native engine; and
  the four methods of ``asap.auth.webauthn_store.SQLiteWebAuthnCredentialStore``. No aiosqlite
  connection (and so no thread) is opened per call any more. See
  :mod:`asap_native.asap_methods`.
- ``compression``: ``decompress_payload`` in ``asap.transport._request_handler`` becomes the
  native decoder, bounded by the request size limit of the server calling it (its
  ``max_request_size``, as set by ``create_app(max_request_size=...)``, else
  ``ASAP_MAX_REQUEST_SIZE`` or asap's ``MAX_REQUEST_SIZE``; ``install(max_size=...)`` caps it
  further), so a compression bomb is refused (413, with asap's own wording) as soon as its
  output passes the limit instead of being inflated whole; and ``decompress_payload`` in
  ``asap.transport.compression`` and ``asap.transport``.

It is all or nothing: every target is resolved first, and if one is missing nothing changes.
It refuses an asap-protocol outside the versions the tests cover (``TESTED_ASAP_VERSIONS``)
unless ``force=True``. It works whether asap's modules were imported before or not (it imports
them). What it cannot reach: a name your own module copied before ``install()`` ran
(``from asap.state import SQLiteSnapshotStore`` at its top) keeps asap's class, and objects
created before keep their class (repositories excepted: their methods are swapped on the
class). Call ``install()`` first thing, before importing the modules that build the app, or
refer to the names through their module (``asap.state.SQLiteSnapshotStore``).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import os
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from asap_native import asap_methods, compression, metering_store, snapshot_store

__all__ = [
    "PARTS",
    "TESTED_ASAP_VERSIONS",
    "install",
    "installed",
    "replaced_names",
    "uninstall",
]

# The asap-protocol versions the tests run against: (first, first not covered).
TESTED_ASAP_VERSIONS = ((2, 5), (2, 6))

PARTS = ("stores", "memory_stores", "repository", "compression")

_SQLITE_CLASSES = {
    "SQLiteSnapshotStore": snapshot_store.SQLiteSnapshotStore,
    "SQLiteAsyncSnapshotStore": snapshot_store.SQLiteAsyncSnapshotStore,
    "SQLiteMeteringStore": metering_store.SQLiteMeteringStore,
}
_MEMORY_CLASSES = {
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
# Where asap's factories live. asap.transport.server imported create_snapshot_store by name: it
# is swapped there only if already imported (importing it builds asap's default app).
_FACTORY_MODULES = {
    "create_snapshot_store": ("asap.state.stores", "asap.state", "asap.transport.server"),
    "create_async_snapshot_store": ("asap.state.snapshot", "asap.state.stores", "asap.state"),
}
_IMPORTED_ONLY = {"asap.transport.server"}
_REPOSITORY_CLASS = ("asap.state.stores._sqlite_base", "AsyncSqliteRepository")
_WEBAUTHN_CLASS = ("asap.auth.webauthn_store", "SQLiteWebAuthnCredentialStore")
_MISSING = object()


@dataclass(frozen=True)
class _Swap:
    """One name to swap: ``owner`` is a module or a class, ``where`` its dotted name."""

    owner: Any
    where: str
    name: str
    value: Any

    @property
    def label(self) -> str:
        return f"{self.where}.{self.name}"


_lock = threading.Lock()
_active: frozenset[str] = frozenset()
# Each swapped name and what stood there before: _MISSING for a class attribute that was
# inherited, not the class's own (uninstall() then deletes ours, exposing the inherited one).
_originals: list[tuple[_Swap, Any]] = []


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
        if max_size is not None:
            return compression.decompress_payload(data, encoding, max_size=max_size)
        limit = _caller_limit(sys._getframe(1), ASAPRequestHandler, default_limit)
        if cap is not None:
            limit = min(limit, cap)
        try:
            return compression.decompress_payload(data, encoding, max_size=limit)
        except compression.DecompressionLimitExceededError:
            # asap's own 413 says this (clients and asap's tests read it); decoding stopped
            # at the first byte over the limit, so the whole size is not known.
            raise compression.DecompressionLimitExceededError(
                f"Decompressed request size (more than {limit} bytes) exceeds maximum "
                f"({limit} bytes)",
                limit,
            ) from None

    return decompress_payload


def _postgres_aware(original: Callable[..., Any], ours: Callable[..., Any]) -> Any:
    """asap's factory, but ours when the call means PostgreSQL (which asap's refuses)."""

    def factory(*args: Any, **kwargs: Any) -> Any:
        backend = args[0] if args else kwargs.get("backend")
        chosen = ours if snapshot_store.requests_postgres(backend) else original
        return chosen(*args, **kwargs)

    factory.__name__ = factory.__qualname__ = original.__name__
    factory.__doc__ = original.__doc__
    factory.__wrapped__ = original  # type: ignore[attr-defined]
    return factory


def _factory_plan() -> list[_Swap]:
    """The factory swaps: one wrapper per asap function, wherever that function is bound."""
    plan: list[_Swap] = []
    wrappers: dict[int, Any] = {}
    for name, module_names in _FACTORY_MODULES.items():
        ours = getattr(snapshot_store, name)
        for module_name in module_names:
            if module_name in _IMPORTED_ONLY and module_name not in sys.modules:
                continue
            swap = _module_swap(module_name, name, None)
            original = getattr(swap.owner, name)
            wrapper = wrappers.setdefault(id(original), _postgres_aware(original, ours))
            plan.append(dataclasses.replace(swap, value=wrapper))
    return plan


def _module_swap(module_name: str, name: str, value: Any) -> _Swap:
    module = importlib.import_module(module_name)
    if not hasattr(module, name):
        raise AttributeError(f"install(): {module_name}.{name} is missing")
    return _Swap(module, module_name, name, value)


def _method_swaps(dotted: tuple[str, str], methods: dict[str, Any]) -> list[_Swap]:
    module_name, class_name = dotted
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not isinstance(cls, type):
        raise AttributeError(f"install(): {module_name}.{class_name} is missing")
    swaps = []
    for name, method in methods.items():
        if not hasattr(cls, name):
            raise AttributeError(f"install(): {module_name}.{class_name}.{name} is missing")
        swaps.append(_Swap(cls, f"{module_name}.{class_name}", name, method))
    return swaps


def _plan(parts: frozenset[str], default_limit: int, cap: int | None) -> list[_Swap]:
    """Every swap the parts call for, each target resolved (raises before anything changes)."""
    plan: list[_Swap] = []
    if "stores" in parts or "memory_stores" in parts:
        classes = {
            **(_SQLITE_CLASSES if "stores" in parts else {}),
            **(_MEMORY_CLASSES if "memory_stores" in parts else {}),
        }
        for module_name in _CLASS_MODULES:
            module = importlib.import_module(module_name)
            plan += [
                _Swap(module, module_name, name, native)
                for name, native in classes.items()
                if hasattr(module, name)
            ]
    if "repository" in parts:
        plan += _method_swaps(_REPOSITORY_CLASS, asap_methods.REPOSITORY_METHODS)
        plan += _method_swaps(_WEBAUTHN_CLASS, asap_methods.WEBAUTHN_METHODS)
    if "compression" in parts:
        bounded = _bounded_decompress_payload(default_limit, cap)
        plan.append(_module_swap("asap.transport._request_handler", "decompress_payload", bounded))
        for module_name in ("asap.transport.compression", "asap.transport"):
            plan.append(
                _module_swap(module_name, "decompress_payload", compression.decompress_payload)
            )
    return plan


def _check_version(force: bool) -> None:
    version = importlib.metadata.version("asap-protocol")
    try:
        major_minor = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        major_minor = ()
    first, beyond = TESTED_ASAP_VERSIONS
    if first <= major_minor < beyond:
        return
    covered = f">={first[0]}.{first[1]},<{beyond[0]}.{beyond[1]}"
    message = (
        f"asap-protocol {version} is outside the versions asap_native is tested with ({covered})"
    )
    if not force:
        raise RuntimeError(message + "; pass force=True to install anyway")
    warnings.warn(message + "; installing anyway (force=True)", RuntimeWarning, stacklevel=3)


def install(
    *,
    stores: bool = True,
    memory_stores: bool = False,
    repository: bool = True,
    compression: bool = True,
    max_size: int | None = None,
    force: bool = False,
) -> list[str]:
    """Point asap-protocol at the native pieces; returns the names replaced.

    Args:
        stores: The SQLite store classes (asap's factories then hand them out).
        memory_stores: The in-memory store classes (off: asap's keep the objects saved).
        repository: ``AsyncSqliteRepository``'s SQL methods and the WebAuthn credential store.
        compression: The request decoder, bounded by the calling server's limit.
        max_size: Largest decompressed request body the decoder produces, on top of the
            calling server's own ``max_request_size``. Without it the decoder follows that
            limit, or ``ASAP_MAX_REQUEST_SIZE`` / asap's ``MAX_REQUEST_SIZE`` (10 MiB) when
            called outside asap's request handler.
        force: Install into an asap-protocol outside ``TESTED_ASAP_VERSIONS`` (with a warning).

    Calling it again with the same parts does nothing; with other parts, call
    :func:`uninstall` first.

    Raises:
        ImportError: asap-protocol (or one of its modules) is not installed.
        AttributeError: a name to replace is missing (nothing was changed).
        RuntimeError: asap-protocol's version is not covered (without ``force``), or install()
            already ran with other parts.
    """
    global _active
    chosen = {
        "stores": stores,
        "memory_stores": memory_stores,
        "repository": repository,
        "compression": compression,
    }
    parts = frozenset(name for name, wanted in chosen.items() if wanted)
    with _lock:
        if _active:
            if parts != _active:
                raise RuntimeError(
                    f"install() already ran with {sorted(_active)}; uninstall() before "
                    f"installing {sorted(parts)}"
                )
            return replaced_names()
        _check_version(force)
        cap = None if max_size is None else int(max_size)
        # asap.transport builds a default app when first imported, with the factory: the
        # wrapped one must be in place before anything below imports it, or a backend only
        # ours knows (ASAP_STORAGE_BACKEND=postgresql) fails that import.
        _apply(_factory_plan() if "stores" in parts else [])
        try:
            _apply(_plan(parts, _default_max_size() if cap is None else cap, cap))
        except BaseException:
            _restore()
            raise
        _active = parts
        return replaced_names()


def _apply(plan: list[_Swap]) -> None:
    for swap in plan:
        _originals.append((swap, vars(swap.owner).get(swap.name, _MISSING)))
        setattr(swap.owner, swap.name, swap.value)


def _restore() -> None:
    for swap, original in reversed(_originals):
        if original is _MISSING:
            delattr(swap.owner, swap.name)
        else:
            setattr(swap.owner, swap.name, original)
    _originals.clear()


def uninstall() -> None:
    """Restore exactly what :func:`install` replaced (idempotent)."""
    global _active
    with _lock:
        _restore()
        _active = frozenset()


def installed() -> frozenset[str]:
    """The parts (of :data:`PARTS`) in place: empty (falsy) when nothing is installed."""
    return _active


def replaced_names() -> list[str]:
    """The ``module.name`` (or ``module.Class.name``) entries currently replaced."""
    return [swap.label for swap, _ in _originals]
