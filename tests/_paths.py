"""Where the tests find things: the project's fixtures, and the real benchmark files.

Real benchmark files are not part of the project. Tests marked `realdata` read them from the
folder named by `PONDER_DATA_DIR` (`.ci/run` sets it) and are skipped, with the reason, when it is
unset (see conftest.py).
"""

from __future__ import annotations

import os
from pathlib import Path

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
RESOURCES = TESTS.parent / "src" / "ponder" / "resources"
_env = os.environ.get("PONDER_DATA_DIR")
REAL_DATA: Path | None = Path(_env) if _env and Path(_env).is_dir() else None
# A stand-in path for module-level constants; realdata tests are skipped when REAL_DATA is None.
DATA = REAL_DATA or TESTS / "fixtures" / "no-real-data"
