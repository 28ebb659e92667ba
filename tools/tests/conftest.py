"""Shared pytest setup: make ``pyimage`` importable from tools/; keep
Hypothesis's files out of the checkout."""

import sys
import tempfile
from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

TOOLS = Path(__file__).resolve().parent.parent
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

# Hypothesis keeps the failing examples it found (to try them first next time)
# and other caches in `.hypothesis/` of the working folder by default, i.e. the
# checkout, where a test run writes nothing (tools/test).
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "pyimage-hypothesis")
