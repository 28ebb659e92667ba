"""Helpers of the e2e tests: where things are, and running Bazel and the harness."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from harnesslib import copy_e2e_workspace

REPO = Path(__file__).resolve().parents[2]
E2E = REPO / "e2e"
HARNESS = E2E / "harness"
BAZEL = REPO / "tools" / "offline" / "bazel"
CACHE = Path(os.environ.get("PYIMAGE_CACHE", "/var/cache/rules_pyimage"))
#: The annotation of our package layers: the packages each holds.
PACKAGES_ANNOTATION = "dev.rules-pyimage.packages"


#: Scratch workspaces whose Bazel server outlives each command (PYIMAGE_KEEP_SERVER=1 of the
#: runner): a test's many queries then skip the server's start and the reload of the graph.
KEPT_SERVERS: set[Path] = set()


def bazel_env(cwd: Path) -> dict[str, str] | None:
    """The environment of a Bazel run in ``cwd``: None (ours) unless its server is kept."""
    return dict(os.environ, PYIMAGE_KEEP_SERVER="1") if cwd in KEPT_SERVERS else None


def run(cmd: list[str], cwd: Path = REPO, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure, fail the test with the end of its output."""
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr)
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    if r.returncode != 0:
        pytest.fail(f"{cmd[:3]} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}")
    return r


def bazel(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Bazel (the offline runner) in ``cwd``; fail the test when it fails."""
    return run([str(BAZEL), *args], cwd=cwd, env=bazel_env(cwd))


def bazel_may_fail(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Bazel in ``cwd``; its result, whatever it is."""
    print("+", BAZEL, *args, file=sys.stderr)
    cmd = [str(BAZEL), *args]
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, check=False, env=bazel_env(cwd)
    )


def harness(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one of e2e/harness's scripts."""
    return run([sys.executable, str(HARNESS / script), *args])


@contextmanager
def scratch_copy(keep_server: bool = False) -> Iterator[Path]:
    """A copy of the e2e workspace outside the repository, to change freely; with
    ``keep_server``, its Bazel server lives until the copy goes (``bazel`` and
    ``bazel_may_fail`` run there with PYIMAGE_KEEP_SERVER=1)."""
    with tempfile.TemporaryDirectory(prefix="pyimage-e2e-") as d:
        ws = copy_e2e_workspace(Path(d) / "e2e")
        if keep_server:
            KEPT_SERVERS.add(ws)
        try:
            yield ws
        finally:
            # The output base goes, and with it the server, kept or not.
            subprocess.run([str(BAZEL), "clean", "--expunge"], cwd=ws, check=False,
                           capture_output=True, env=bazel_env(ws))  # fmt: skip
            KEPT_SERVERS.discard(ws)


def manifest_digest(layout: Path) -> str:
    """The digest of the first (only) image's manifest in an OCI layout."""
    return str(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"])


def read_manifest(layout: Path) -> dict[str, object]:
    """The manifest of the first (only) image of an OCI layout."""
    digest = manifest_digest(layout).split(":", 1)[1]
    return json.loads((layout / "blobs" / "sha256" / digest).read_text())


@dataclass
class Built:
    """What py_image_layers built for one app (copied out of bazel-bin)."""

    app: str
    layout: Path
    app_layer: Path
    entrypoint: Path
    env: Path
    plan: dict[str, object]
    # The other binaries' app layers (`binaries`), in the image's order.
    more_app_layers: tuple[Path, ...] = ()

    def manifest(self) -> dict[str, object]:
        return read_manifest(self.layout)

    def package_layers(self) -> dict[str, str]:
        """Annotation (packages held) -> layer digest, for our package layers."""
        return {
            lay["annotations"][PACKAGES_ANNOTATION]: lay["digest"]
            for lay in self.manifest()["layers"]
            if PACKAGES_ANNOTATION in lay.get("annotations", {})
        }


def output_dir(workspace: Path, label: str) -> Path:
    """The folder of a target's outputs, whatever its configuration (`bazel cquery`): a
    target built for another platform writes under `bazel-out/<config>-ST-<hash>/bin`,
    not bazel-bin."""
    files = bazel(workspace, "cquery", "--output=files", label).stdout.split()
    if not files:
        pytest.fail(f"bazel cquery --output=files {label} names no file")
    return workspace / Path(files[0]).parent


def _bin_dir(workspace: Path, app: str, target: str) -> Path:
    """Where `//apps/<app>:<target>.layers` wrote: bazel-bin, or the one configuration of
    bazel-out that has it (a target built for another platform)."""
    default = workspace / "bazel-bin" / "apps" / app
    if (default / f"{target}.layers.layout").exists():
        return default
    found = sorted(workspace.glob(f"bazel-out/*/bin/apps/{app}/{target}.layers.layout"))
    if len(found) != 1:
        where = f"//apps/{app}:{target}.layers"
        pytest.fail(f"{where}: {len(found)} outputs in bazel-out; use output_dir()")
    return found[0].parent


def copy_outputs(
    workspace: Path, app: str, dest: Path, target: str = "image", bin_dir: Path | None = None
) -> Built:
    """Copy an app's `<target>.layers` outputs out of bazel-bin, or `bin_dir` (the next
    build may replace them).

    The app layer is `app.tar.gz`, or `app.tar.zst` for a zstd image; another
    binary's is `app-<binary>.tar.gz`.
    """
    bin_dir = bin_dir or _bin_dir(workspace, app, target)
    out = dest / (app if target == "image" else f"{app}-{target}")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    parts = {}
    (app_suffix,) = [
        s for s in ("app.tar.gz", "app.tar.zst") if (bin_dir / f"{target}.layers.{s}").is_file()
    ]
    for suffix in ("layout", app_suffix, "entrypoint.txt", "env.txt", "plan.json"):
        src = bin_dir / f"{target}.layers.{suffix}"
        dst = out / suffix
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=False)
        else:
            shutil.copyfile(src, dst)
        parts[suffix] = dst
    more = []
    # Sorted by name: the e2e images have at most one other binary.
    others = [p for s in ("tar.gz", "tar.zst") for p in bin_dir.glob(f"{target}.layers.app-*.{s}")]
    for src in sorted(others):
        more.append(out / src.name.removeprefix(f"{target}.layers."))
        shutil.copyfile(src, more[-1])
    return Built(
        app,
        parts["layout"],
        parts[app_suffix],
        parts["entrypoint.txt"],
        parts["env.txt"],
        json.loads(parts["plan.json"].read_text()),
        tuple(more),
    )


def finish(b: Built, dest: Path, layout: Path | None = None) -> Path:
    """Finish an image with umoci as oci_image would; `layout` replaces b.layout."""
    harness(
        "finish_image.py", "--layout", str(layout or b.layout),
        *(f"--app-layer={a}" for a in (b.app_layer, *b.more_app_layers)),
        "--entrypoint", str(b.entrypoint), "--env", str(b.env),
        "--out", str(dest), "--tag", b.app,
    )  # fmt: skip
    return dest
