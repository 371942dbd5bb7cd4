"""Runs a function on several threads at once, for the tests of concurrent use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def run_threads(count: int, target: Callable[[int], Any], timeout: float | None = None) -> None:
    """Run target(index) on ``count`` threads started together; re-raise the first failure.

    With ``timeout``, each thread gets that many seconds to finish and a thread still running
    after it fails the test.
    """
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), f"a thread did not finish within {timeout} s"
    if errors:
        raise errors[0]
