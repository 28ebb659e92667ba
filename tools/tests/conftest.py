"""Shared pytest setup: make ``pyimage`` importable from tools/; keep
Hypothesis's files out of the checkout; the fleet tests' fixtures."""

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


# Imported after sys.path holds tools/ (fleetkit imports pyimage).
import pytest  # noqa: E402
from fleetkit import MIB, Fleet  # noqa: E402


@pytest.fixture()
def fleet(tmp_path: Path) -> Fleet:
    """Six packages: one of 8 MiB, five small."""
    f = Fleet(tmp_path)
    for pid in ["big==1", "six==1", "idna==1", "attrs==1", "only-a==1", "only-b==1"]:
        f.package(pid, 8 * MIB if pid == "big==1" else 2000)
    return f


@pytest.fixture()
def variants(fleet: Fleet) -> tuple[list[str], list[str]]:
    """Two images holding one id, six==1, built from other bytes in each."""
    six_b = fleet.package("six==1", variant="patched")
    shared = ["big==1", "idna==1", "attrs==1"]
    return [*shared, "six==1", "only-a==1"], [*shared, six_b, "only-b==1"]
