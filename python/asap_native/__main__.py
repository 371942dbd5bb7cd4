"""``python -m asap_native``: the ``asap-native`` command line (see :mod:`asap_native.cli`)."""

from __future__ import annotations

import sys

from asap_native.cli import main

if __name__ == "__main__":
    sys.exit(main())
