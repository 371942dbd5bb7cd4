"""typed_usage.py, which make lint type-checks with mypy --strict, also runs as written."""

from __future__ import annotations

import typed_usage


def test_the_typed_usage_file_runs() -> None:
    typed_usage.main()
