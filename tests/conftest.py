"""Test-session setup: `realdata` tests run only where the real benchmark files are."""

from __future__ import annotations

import pytest

from _paths import REAL_DATA

SKIP_REAL = pytest.mark.skip(
    reason="needs the real benchmark files: set PONDER_DATA_DIR to their folder (.ci/run does)"
)


def pytest_collection_modifyitems(config, items):
    if REAL_DATA is not None:
        return
    for item in items:
        if "realdata" in item.keywords:
            item.add_marker(SKIP_REAL)
