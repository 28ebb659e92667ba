"""tools/release: a deterministic archive of what users need, and one-line refusals.

Each test releases from a scratch clone of this repository, so that commits
and dirty trees can be made without touching the checkout. (That the archive
alone builds a workspace is e2e/tests/test_release_archive.py's.)
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import release

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "release"


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of the checkout with its working tree's files committed (tracked or new)."""
    dest = tmp_path_factory.mktemp("repo") / "rules_pyimage"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_symlink() or not source.is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(source.read_bytes())
        (dest / name).chmod(source.stat().st_mode & 0o777)
    _commit(dest, "the working tree as checked out")
    return dest


def _commit(repo: Path, message: str) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", message], cwd=repo, check=True)


def run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(repo / "tools" / "release"), *args], capture_output=True, text=True, check=False
    )


def names(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


def test_two_runs_give_the_same_bytes_and_the_lines_to_use_them(
    clone: Path, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = run(clone, "0.1.0", "--out-dir", str(tmp_path / "a"))
    second = run(clone, "0.1.0", "--out-dir", str(tmp_path / "b"))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    a = (tmp_path / "a" / "rules_pyimage-0.1.0.tar.gz").read_bytes()
    b = (tmp_path / "b" / "rules_pyimage-0.1.0.tar.gz").read_bytes()
    assert hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest()
    integrity = "sha256-" + base64.b64encode(hashlib.sha256(a).digest()).decode()
    assert f'integrity = "{integrity}"' in first.stdout
    assert 'strip_prefix = "rules_pyimage-0.1.0"' in first.stdout
    assert "/v0.1.0/rules_pyimage-0.1.0.tar.gz" in first.stdout


def test_the_archive_holds_the_module_with_its_version_and_no_tests(
    clone: Path, tmp_path: Path
) -> None:
    assert run(clone, "1.2.3-rc.1", "--out-dir", str(tmp_path)).returncode == 0
    archive = tmp_path / "rules_pyimage-1.2.3-rc.1.tar.gz"
    listed = names(archive)
    assert all(n.startswith("rules_pyimage-1.2.3-rc.1/") for n in listed)
    paths = {n.split("/", 1)[1] for n in listed}
    for needed in ("MODULE.bazel", "LICENSE", "oci/defs.bzl", "py/defs.bzl", "py/extensions.bzl"):
        assert needed in paths
    assert "tools/pyimage/__main__.py" in paths
    assert "examples/quickstart/MODULE.bazel" in paths  # the BCR's test module
    for unwanted in (
        "e2e/",
        "py/tests/",
        "tools/tests/",
        "tools/bench/",
        "examples/hello/",
        ".ci/",
    ):
        assert not [p for p in paths if p.startswith(unwanted)], unwanted
    with tarfile.open(archive) as tar:
        member = tar.extractfile("rules_pyimage-1.2.3-rc.1/MODULE.bazel")
        assert member is not None
        module = member.read().decode()
        assert {m.mtime for m in tar.getmembers()} == {release.MTIME}
        assert {(m.uid, m.gid, m.uname) for m in tar.getmembers()} == {(0, 0, "")}
    assert re.search(r'module\(\s*name = "rules_pyimage",\s*version = "1\.2\.3-rc\.1"', module)


def test_executable_files_stay_executable(clone: Path, tmp_path: Path) -> None:
    assert run(clone, "0.1.0", "--out-dir", str(tmp_path)).returncode == 0
    with tarfile.open(tmp_path / "rules_pyimage-0.1.0.tar.gz") as tar:
        modes = {m.name.split("/", 1)[1]: m.mode for m in tar.getmembers()}
    tracked = subprocess.run(
        ["git", "ls-files", "-s", "py", "oci", "tools/pyimage"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for line in tracked:
        mode, _, rest = line.partition(" ")
        path = rest.split("\t", 1)[1]
        if path in modes:
            assert modes[path] == (0o755 if mode == "100755" else 0o644), path


@pytest.mark.parametrize("version", ["v0.1.0", "0.1", "01.2.3", "0.1.0-", "latest", ""])
def test_a_version_that_is_not_semver_is_refused(clone: Path, tmp_path: Path, version: str) -> None:
    result = run(clone, version, "--out-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "is not semver" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_dirty_tree_is_refused_unless_a_commit_is_named(clone: Path, tmp_path: Path) -> None:
    module = clone / "MODULE.bazel"
    before = module.read_bytes()
    module.write_bytes(before + b"# uncommitted\n")
    try:
        result = run(clone, "0.1.0", "--out-dir", str(tmp_path))
        assert result.returncode == 2 and result.stderr.count("\n") == 1
        assert "uncommitted changes" in result.stderr and "--commit" in result.stderr
        assert list(tmp_path.iterdir()) == []
        named = run(clone, "0.1.0", "--commit", "HEAD", "--out-dir", str(tmp_path))
        assert named.returncode == 0, named.stderr
        with tarfile.open(tmp_path / "rules_pyimage-0.1.0.tar.gz") as tar:
            member = tar.extractfile("rules_pyimage-0.1.0/MODULE.bazel")
            assert member is not None and b"# uncommitted" not in member.read()
    finally:
        module.write_bytes(before)


def test_an_unknown_commit_is_refused(clone: Path, tmp_path: Path) -> None:
    result = run(clone, "0.1.0", "--commit", "no-such-rev", "--out-dir", str(tmp_path))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--commit no-such-rev: no such commit" in result.stderr


@pytest.mark.parametrize(
    "output", ["py/bazel-out/x.txt", "tools/pyimage/__pycache__/cli.cpython-311.pyc", "oci/a.pyc"]
)
def test_a_committed_build_output_is_refused(tmp_path: Path, clone: Path, output: str) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(clone), str(repo)], check=True)
    (repo / output).parent.mkdir(parents=True, exist_ok=True)
    (repo / output).write_bytes(b"built")
    subprocess.run(["git", "add", "-f", output], cwd=repo, check=True)
    _commit(repo, "a build output")
    out = tmp_path / "out"
    out.mkdir()
    result = run(repo, "0.1.0", "--out-dir", str(out))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"{output}: a build output is committed" in result.stderr
    assert list(out.iterdir()) == []


def test_a_missing_out_dir_is_refused(clone: Path, tmp_path: Path) -> None:
    result = run(clone, "0.1.0", "--out-dir", str(tmp_path / "nope"))
    assert result.returncode == 2 and "no such folder" in result.stderr


def test_set_version_needs_the_module_call() -> None:
    with pytest.raises(release.ReleaseError, match=r"MODULE\.bazel: no module"):
        release.set_version(b'module(name = "other", version = "1")\n', "0.1.0")
    out = release.set_version(
        b'module(\n    name = "rules_pyimage",\n    version = "0.0.0",\n)', "2.0.0"
    )
    assert b'version = "2.0.0"' in out


def test_the_gzip_stream_has_no_name_or_time() -> None:
    data = release.archive_bytes([release.Entry("a.txt", "100644", b"x")], "0.1.0")
    assert data[:3] == b"\x1f\x8b\x08"
    assert data[3] == 0  # FLG: no FNAME
    assert data[4:8] == b"\0\0\0\0"  # MTIME
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == ["rules_pyimage-0.1.0/a.txt"]


def test_the_bcr_templates_match_what_the_tool_makes() -> None:
    bcr = ROOT / ".bcr"
    source = json.loads((bcr / "source.template.json").read_text())
    metadata = json.loads((bcr / "metadata.template.json").read_text())
    filled = {"{OWNER}": "rules-pyimage", "{REPO}": "rules_pyimage", "{TAG}": "v0.1.0"}
    url = source["url"]
    for key, value in {**filled, "{VERSION}": "0.1.0"}.items():
        url = url.replace(key, value)
    assert url == release.URL_PATTERN.format(version="0.1.0")
    assert source["strip_prefix"].replace("{VERSION}", "0.1.0") == "rules_pyimage-0.1.0"
    assert metadata["repository"] == ["github:rules-pyimage/rules_pyimage"]
    assert metadata["versions"] == [] and metadata["maintainers"]
    presubmit = (bcr / "presubmit.yml").read_text()
    (module_path,) = re.findall(r"^  module_path: (\S+)$", presubmit, re.M)
    assert (ROOT / module_path / "MODULE.bazel").is_file()
    assert release.wanted(f"{module_path}/MODULE.bazel"), "the archive must hold the test module"


def test_the_archive_holds_what_the_offline_toolchains_load() -> None:
    # --config=offline registers toolchains of tools/offline/BUILD.bazel, which
    # the archive holds: each .bzl that BUILD file loads from its own package
    # must be in it too, or that package no longer loads.
    build = (ROOT / "tools" / "offline" / "BUILD.bazel").read_text()
    local = re.findall(r'^load\(":([^"]+)"', build, flags=re.MULTILINE)
    assert local, "tools/offline/BUILD.bazel loads no .bzl of its own"
    assert [f for f in local if not release.wanted(f"tools/offline/{f}")] == []
