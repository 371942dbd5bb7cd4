"""Alias of :mod:`asap_native.integration` (its earlier name): ``import asap_native.asap``
gives that very module, so ``asap_native.asap.install()`` keeps working."""

from __future__ import annotations

import sys

from asap_native import integration

sys.modules[__name__] = integration
