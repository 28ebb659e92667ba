"""The e2e tests' fixtures: the base images, and a scratch copy of the workspace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2ekit import CACHE, harness, scratch_copy


@pytest.fixture(scope="session")
def bases() -> dict[str, Path]:
    """The base layouts, made (or reused) by the harness, where the e2e workspace finds them."""
    root = CACHE / "e2e-bases"
    kinds = ("python", "nopython", "python-arm64")
    for kind in kinds:
        harness("base_image.py", "make", "--kind", kind, "--cache-dir", str(root))
    return {kind: (root / kind).resolve() for kind in kinds}


@pytest.fixture(scope="module")
def scratch(bases: dict[str, Path]) -> Iterator[Path]:
    """A copy of the e2e workspace outside the repository, one per test module, to change
    freely (each test puts back what it changes); its Bazel server is kept between commands."""
    with scratch_copy(keep_server=True) as ws:
        yield ws
