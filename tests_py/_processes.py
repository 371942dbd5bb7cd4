"""Python scripts run in another process: how the tests share a database file with a second
process (its own SQLite, its own locks), as another server or tool on the host would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from _async_helpers import read_line


@contextmanager
def python_child(script: str, *args: str, ready: str) -> Iterator[subprocess.Popen[str]]:
    """Runs ``script`` with ``args`` in another Python process, stdin and stdout piped as text;
    yields it once it has printed the line ``ready``, and kills it on the way out unless it has
    ended by then."""
    with subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert read_line(child.stdout).strip() == ready
            yield child
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
