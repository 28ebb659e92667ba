"""The release archive alone is a working module: examples/hello builds and tests against it.

`tools/release` makes the archive of HEAD; the test unpacks it beside a copy of
examples/hello whose own override of rules_pyimage points nowhere, and runs
`bazel test //...` there with `--override_module` to the unpacked tree. So a
file the module needs but the archive leaves out fails here.
"""

from __future__ import annotations

import re
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2ekit import REPO, bazel, bazel_may_fail, run

VERSION = "0.0.0-test"


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pyimage-release-") as d:
        ws = Path(d) / "hello"
        ws.mkdir()
        for src in (REPO / "examples" / "hello").iterdir():
            if src.is_file():
                (ws / src.name).write_bytes(src.read_bytes())
        # The copy is not two folders under the repository: its relative
        # paths are made absolute (the runner mounts the repository).
        rc = (ws / ".bazelrc").read_text().replace("%workspace%/../..", str(REPO))
        (ws / ".bazelrc").write_text(rc)
        module = (ws / "MODULE.bazel").read_text()
        module, count = re.subn(r'path = "\.\./\.\."', 'path = "/nonexistent"', module)
        assert count == 1, "examples/hello/MODULE.bazel has no local_path_override to ../.."
        (ws / "MODULE.bazel").write_text(module)
        run([str(REPO / "tools" / "release"), VERSION, "--commit", "HEAD", "--out-dir", d])
        with tarfile.open(Path(d) / f"rules_pyimage-{VERSION}.tar.gz") as tar:
            tar.extractall(ws, filter="data")
        (ws / ".bazelignore").write_text(f"rules_pyimage-{VERSION}\n")
        try:
            yield ws
        finally:
            bazel_may_fail(ws, "clean", "--expunge")


def test_examples_hello_builds_and_passes_against_the_archive(workspace: Path) -> None:
    module = workspace / f"rules_pyimage-{VERSION}"
    assert not (module / "e2e").exists() and not (module / "py" / "tests").exists()
    result = bazel(workspace, "test", f"--override_module=rules_pyimage={module}", "//...")
    output = result.stdout + result.stderr
    print(output[-1500:])
    assert re.search(r"Executed 2 out of 2 tests: 2 tests pass", output)
