"""Versions: asap_native.__version__ (from pyproject.toml) and which SQLite the stores run on."""

from __future__ import annotations

import importlib.metadata
import re
import sqlite3

import asap_native
from asap_native import _core


def test_sqlite_version_is_a_dotted_version_like_sqlite3s() -> None:
    assert isinstance(asap_native.sqlite_version, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+", asap_native.sqlite_version)
    assert isinstance(sqlite3.sqlite_version, str)  # the same shape as the stdlib's


def test_sqlite_version_info_matches_sqlite_version() -> None:
    info = asap_native.sqlite_version_info
    assert isinstance(info, tuple) and len(info) == 3
    assert all(isinstance(part, int) for part in info)
    assert ".".join(map(str, info)) == asap_native.sqlite_version


def test_sqlite_version_is_what_the_stores_run_on(tmp_path) -> None:
    store = asap_native.SQLiteSnapshotStore(str(tmp_path / "v.db"))
    store.close()
    assert asap_native.sqlite_version == _core.sqlite_version()


def test_library_is_at_least_the_minimum() -> None:
    minimum = tuple(int(part) for part in _core.minimum_sqlite_version().split("."))
    assert minimum >= (3, 37, 0)
    assert asap_native.sqlite_version_info >= minimum


def test_exported() -> None:
    assert "sqlite_version" in asap_native.__all__
    assert "sqlite_version_info" in asap_native.__all__


def test_package_version_is_the_one_in_pyproject() -> None:
    # pyproject.toml is the version's one home: pip's metadata and the compiled-in value agree.
    assert asap_native.__version__ == importlib.metadata.version("asap-native")
    assert asap_native.__version__ == _core.__version__
