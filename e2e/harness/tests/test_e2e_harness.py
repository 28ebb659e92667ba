"""The e2e harness (e2e/harness/*.py) run for real: debootstrap base, umoci, podman, registry.

The python base is built once per machine and cached (base_image.py; about 85 s
cold: debootstrap ~70 s, tar + umoci ~15 s); every test reuses it. Needs root
and debootstrap, umoci, skopeo, podman, runc, docker-registry; a test skips
with the reason when one is missing. The pure parts (file formats, log
parsing, cache keys, one-line errors) are tested without any tool.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import base_image
import finish_image
import harnesslib
import naive_layers
import podman_run
import pytest
import registry
from enginekit import build_package, pyimage

from pyimage.engine.oci_layout import LayerInput, Platform, read_base, write_layout

HARNESS = Path(__file__).resolve().parents[1]  # e2e/harness


def need(*tools: str) -> None:
    """Skip unless root and every tool is installed."""
    if os.geteuid() != 0:
        pytest.skip("needs root (debootstrap, umoci unpack, podman with a private store)")
    for t in tools:
        try:
            harnesslib.need_tool(t)
        except harnesslib.ToolMissingError as e:
            pytest.skip(str(e))


def script(name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``e2e/harness/NAME ARGS`` with this Python; return the result (not checked)."""
    return subprocess.run(
        [sys.executable, str(HARNESS / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def python_base() -> Path:
    """The cached python base layout (built on first use: ~85 s)."""
    need("debootstrap", "umoci", "tar")
    return base_image.ensure("python")


# ---------------------------------------------------------------------------
# Pure parts: no tools


def test_entrypoint_and_env_files(tmp_path: Path) -> None:
    ep = tmp_path / "e.txt"
    ep.write_text("python3\n/app/main.py\n--flag=a b\n")
    assert finish_image.read_entrypoint(ep) == ["python3", "/app/main.py", "--flag=a b"]
    ep.write_text("")
    with pytest.raises(harnesslib.HarnessError, match="is empty"):
        finish_image.read_entrypoint(ep)
    env = tmp_path / "env.txt"
    env.write_text("A=1\n\nB=x=y\nPATH=/opt/bin\n")
    assert finish_image.read_env(env) == [("A", "1"), ("B", "x=y"), ("PATH", "/opt/bin")]
    assert finish_image.merged_env(["PATH=/usr/bin", "LANG=C"], finish_image.read_env(env)) == [
        "PATH=/opt/bin",
        "LANG=C",
        "A=1",
        "B=x=y",
    ]
    env.write_text("A=1\nnot a pair\n")
    with pytest.raises(harnesslib.HarnessError, match=r"env.txt:2: not KEY=VALUE"):
        finish_image.read_env(env)


def test_entrypoint_is_decoded_as_rules_oci_decodes_it(tmp_path: Path) -> None:
    # rules_oci 2.3 image.sh: split on newlines, drop empty lines, %5Cn -> newline.
    ep = tmp_path / "e.txt"
    ep.write_text("python3\n\n--flag\ntwo%5Cnlines\n\u00fcn\u00efcode arg\n", encoding="utf-8")
    assert finish_image.read_entrypoint(ep) == [
        "python3",
        "--flag",
        "two\nlines",
        "\u00fcn\u00efcode arg",
    ]


def test_env_is_expanded_as_rules_oci_expands_it(tmp_path: Path) -> None:
    env = tmp_path / "env.txt"
    env.write_text(
        "EXTRA=/opt/extra:$PATH\n"
        "PRICE=cost $5 or ${HOME}\n"
        "HALF=${LANG and $LANG}\n"
        "PATH=/opt/bin:${PATH}\n"
        "AFTER=$EXTRA|$PATH\n"
    )
    got = finish_image.merged_env(["PATH=/usr/bin", "LANG=C"], finish_image.read_env(env))
    assert got == [
        # PATH keeps its place; each line sees the lines before it.
        "PATH=/opt/bin:/usr/bin",
        "LANG=C",
        "EXTRA=/opt/extra:/usr/bin",
        # $5 and ${HOME} are unknown: nothing. Braces need not pair, and a
        # closing one right after a name is taken with it.
        "PRICE=cost  or ",
        "HALF=C and C",
        "AFTER=/opt/extra:/usr/bin|/opt/bin:/usr/bin",
    ]


def test_spoke_repositories_are_matched_whatever_rules_python_names_them() -> None:
    # Spoke names per rules_python and Bazel version (rules_python's sources).
    for label in (
        "@@rules_python~~pip~pypi_six//:pkg",
        "@@rules_python++pip+pypi_311_six//:pkg",
        "@@rules_python++pip+pypi_311_six_py2_py3_none_any_8abb2f1d//:srcs",
        "rules_python~~pip~pypi_typing_extensions//:pkg",
    ):
        dist = "typing-extensions" if "typing" in label else "six"
        assert harnesslib.in_spoke_of(label, dist), label
    assert not harnesslib.in_spoke_of("@@rules_python~~pip~pypi_sixer//:pkg", "six")
    assert not harnesslib.in_spoke_of("@@rules_python~~pip~pypi_numpy//:pkg", "six")


def test_registry_log_parsing() -> None:
    d1 = "sha256:" + "a" * 64
    d2 = "sha256:" + "b" * 64
    pre = '127.0.0.1 - - [27/Nov/2026:20:16:52 +0000] "'
    post = ' HTTP/1.1" {} 0 "" "skopeo/1.9.3"'
    lines = [
        pre + "POST /v2/x/api/blobs/uploads/" + post.format(202),
        pre + "PATCH /v2/x/api/blobs/uploads/u1?_state=s" + post.format(202),
        pre
        + f"PUT /v2/x/api/blobs/uploads/u1?_state=s&digest={d1.replace(':', '%3A')}"
        + post.format(201),
        pre + f"PUT /v2/x/api/blobs/uploads/u2?_state=s&digest={d2}" + post.format(400),
        pre + f"HEAD /v2/x/api/blobs/{d1}" + post.format(200),
        pre + f"POST /v2/x/w/blobs/uploads/?from=x%2Fapi&mount={d1}" + post.format(201),
        pre + "PUT /v2/x/api/manifests/v1" + post.format(201),
        'time="..." level=info msg="response completed" http.request.method=PUT',
    ]
    report = registry.parse_log("\n".join(lines))
    assert report.uploads(d1) == 1
    assert report.uploads(d2) == 0  # a failed PUT is no upload
    assert report.blobs[d1].found == 1
    assert report.blobs[d1].mounts == 1
    assert report.manifests_pushed == 1


def test_cache_keys_follow_the_recipe() -> None:
    py, nopy = base_image.cache_key("python"), base_image.cache_key("nopython")
    assert py.startswith("python-") and nopy.startswith("nopython-")
    assert py != nopy.replace("nopython", "python")
    assert base_image.cache_key("python") == py
    r = script("base_image.py", "key", "--kind", "python")
    assert r.returncode == 0 and r.stdout.strip() == py
    # The arm64 base is made without emulation: the recipe says for which
    # architecture and how, so it never shares an entry with the host's.
    arm = base_image.recipe("python-arm64")
    assert (arm["arch"], arm["foreign"]) == ("arm64", "dpkg-deb -x")
    assert "foreign" not in base_image.recipe("python")
    assert base_image.cache_key("python-arm64").startswith("python-arm64-")


def test_bad_input_gives_one_line_errors(tmp_path: Path) -> None:
    r = script(
        "finish_image.py",
        *("--layout", str(tmp_path / "nope")),
        "--app-layer",
        "a",
        "--entrypoint",
        "e",
        "--env",
        "v",
        "--out",
        str(tmp_path / "out"),
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"finish_image.py: error: --layout {tmp_path / 'nope'} is not a directory"
    ]
    (tmp_path / "notalayout").mkdir()
    r = script(
        "naive_layers.py",
        "--base",
        str(tmp_path / "notalayout"),
        "--out",
        str(tmp_path / "o"),
        "--packages",
        "3",
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"naive_layers.py: error: {tmp_path / 'notalayout'} is not an OCI image layout"
        " (no oci-layout file)"
    ]
    assert not (tmp_path / "o").exists()
    r = script("podman_run.py", "--layout", str(tmp_path / "notalayout"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    r = script("registry.py", "--push", str(tmp_path / "notalayout"), "v1", "x/y")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_base_build_lock_makes_a_second_run_wait(tmp_path: Path) -> None:
    lock = tmp_path / "k.lock"
    child = (
        "import base_image, pathlib\n"
        f"with base_image.locked(pathlib.Path({str(lock)!r})): print('got it', flush=True)\n"
    )
    with base_image.locked(lock):
        proc = subprocess.Popen(
            [sys.executable, "-c", child],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(HARNESS)},
        )
        assert proc.stderr is not None
        first = proc.stderr.readline()  # written just before it blocks
        assert "waiting for the lock" in first, first + proc.stderr.read()
        assert proc.poll() is None  # blocked while this process holds the lock
    out, _ = proc.communicate(timeout=30)
    assert out == "got it\n"
    assert proc.returncode == 0


# ---------------------------------------------------------------------------
# Real tools


def test_base_image_make_copies_the_cached_layout(python_base: Path, tmp_path: Path) -> None:
    out = tmp_path / "base"
    r = script("base_image.py", "make", "--kind", "python", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "reusing" in r.stderr
    summary = json.loads(r.stdout)
    cached = harnesslib.read_image(python_base, "latest")
    copied = harnesslib.read_image(out, "latest")
    assert summary["layers"] == cached.layer_digests == copied.layer_digests
    assert len(copied.layers) == 1
    assert copied.env == [base_image.PATH_ENV]
    blob = harnesslib.blob_path(out, copied.layer_digests[0])
    assert sha256(blob) == copied.layer_digests[0]
    info = json.loads((python_base.parent / "build.json").read_text())
    assert info["layer_digest"] == copied.layer_digests[0]
    # The layer is a plain root file system: python3 in it, no device nodes.
    names = subprocess.run(
        ["tar", "-tvzf", str(blob)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    paths = {line.split()[-1] for line in names if " -> " not in line}
    assert "./usr/bin/python3.11" in paths
    assert not [x for x in names if x.startswith(("c", "b"))], "device nodes in the base"
    assert not [
        p for p in paths if p.startswith("./var/cache/apt/archives/") and p.endswith(".deb")
    ]


def _write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


APP_MAIN = """\
import os, sys
import demo_pkg
print("demo_pkg", demo_pkg.VERSION)
print(open("/opt/site/demo_pkg.py").read().strip())
print("python", sys.version)
print("GREETING", os.environ["GREETING"])
print("PATH", os.environ["PATH"])
print("ARGS", sys.argv[1:])
sys.exit(int(sys.argv[1]))
"""


def test_finish_and_run_in_podman(python_base: Path, tmp_path: Path) -> None:
    need("umoci", "podman", "runc")
    w = tmp_path / "pkgs"
    w.mkdir()
    pkg = build_package(w, "demo-pkg==1.2.3", {"opt/site/demo_pkg.py": b'VERSION = "1.2.3"\n'})
    app = build_package(w, "app", {"app/main.py": APP_MAIN.encode()})
    layout = tmp_path / "layout"
    desc = pkg.blob.with_name(pkg.blob.name.removesuffix(".tar.gz") + ".json")
    made = pyimage(
        "layout",
        "--out",
        str(layout),
        "--base",
        str(python_base),
        "--tag",
        "v1",
        "--layer",
        str(desc),
        str(pkg.blob),
    )
    assert made.returncode == 0, made.stderr
    entry = _write_file(tmp_path / "img.entrypoint.txt", "python3\n/app/main.py\n")
    env = _write_file(tmp_path / "img.env.txt", "PYTHONPATH=/opt/site\nGREETING=hello world\n")
    out = tmp_path / "final"
    r = script(
        "finish_image.py",
        "--layout",
        str(layout),
        "--app-layer",
        str(app.blob),
        "--entrypoint",
        str(entry),
        "--env",
        str(env),
        "--out",
        str(out),
        "--tag",
        "demo",
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    before = harnesslib.read_image(layout, "v1")
    after = harnesslib.read_image(out, "demo")
    # The base and package layers are kept byte for byte; the app layer is the tar's.
    assert after.layers[:2] == before.layers
    assert after.layer_digests[1] == pkg.descriptor.digest
    assert (out / "blobs/sha256" / pkg.descriptor.digest[7:]).read_bytes() == pkg.blob.read_bytes()
    assert after.diff_ids == [*before.diff_ids, app.descriptor.diff_id]
    with gzip.open(app.blob) as f:
        assert ["sha256:" + hashlib.sha256(f.read()).hexdigest()] == summary["app_diff_ids"]
    assert after.entrypoint == ["python3", "/app/main.py"]
    assert after.env == [base_image.PATH_ENV, "PYTHONPATH=/opt/site", "GREETING=hello world"]
    cfg = after.config["config"]
    assert isinstance(cfg, dict) and "Cmd" not in cfg  # the base's /bin/sh would be an argument

    r = script("podman_run.py", "--layout", str(out), "--tag", "demo", "--", "5", "two words")
    assert r.returncode == 5, r.stderr  # the container's exit code
    lines = r.stdout.splitlines()
    assert lines[0] == "demo_pkg 1.2.3"
    assert lines[1] == 'VERSION = "1.2.3"'
    assert lines[2].startswith("python 3.11.")
    assert lines[3:] == [
        "GREETING hello world",
        "PATH " + base_image.PATH_ENV.partition("=")[2],
        "ARGS ['5', 'two words']",
    ]
    # The private store is gone, with its overlay mounts.
    stores = re.findall(r"podman store (\S+)", r.stderr)
    assert len(stores) == 1
    assert not Path(stores[0]).exists()
    assert harnesslib.mounts_under(Path(stores[0])) == []


def test_finish_refuses_bad_env_and_leaves_nothing(python_base: Path, tmp_path: Path) -> None:
    need("umoci")
    app = tmp_path / "app.tar"
    app.write_bytes(b"\0" * 1024)
    entry = _write_file(tmp_path / "e.txt", "/bin/true\n")
    env = _write_file(tmp_path / "env.txt", "OK=1\n=novalue\n")
    r = script(
        "finish_image.py",
        "--layout",
        str(python_base),
        "--app-layer",
        str(app),
        "--entrypoint",
        str(entry),
        "--env",
        str(env),
        "--out",
        str(tmp_path / "out"),
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"finish_image.py: error: {env}:2: not KEY=VALUE: '=novalue'"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.tar", "e.txt", "env.txt"]


def test_registry_uploads_a_shared_layer_once(python_base: Path, tmp_path: Path) -> None:
    need("docker-registry", "skopeo")
    w = tmp_path / "pkgs"
    w.mkdir()
    shared = build_package(w, "numpy==2.1.3", {"site/numpy/__init__.py": b"N = 1\n" * 5000})
    api = build_package(w, "flask==3.0", {"site/flask.py": b"F\n"})
    worker = build_package(w, "celery==5.4", {"site/celery.py": b"C\n"})
    one, two = tmp_path / "api", tmp_path / "worker"
    base = read_base(python_base, Platform.parse("linux/amd64"))
    write_layout(one, [LayerInput((shared,)), LayerInput((api,))], base=base, tag="v1")
    write_layout(two, [LayerInput((shared,)), LayerInput((worker,))], base=base, tag="v1")
    with registry.Registry() as reg:
        proc = reg.process
        assert proc is not None and proc.poll() is None
        reg.push(one, "v1", "fleet/api")
        reg.push(two, "v1", "fleet/worker")
        report = reg.report()
        workdir = reg.workdir
    assert proc.poll() is not None  # stopped
    assert not workdir.exists()  # and its temporary store is gone
    base_digest = harnesslib.read_image(python_base).layer_digests[0]
    for d in (base_digest, shared.descriptor.digest, api.descriptor.digest):
        assert report.uploads(d) == 1, report.to_json()
    assert report.uploads(worker.descriptor.digest) == 1
    # The second push found the shared blobs and mounted them instead of uploading.
    assert report.blobs[shared.descriptor.digest].mounts == 1
    assert report.blobs[base_digest].mounts == 1
    assert report.manifests_pushed == 2
    configs = [harnesslib.read_image(x).manifest["config"] for x in (one, two)]
    blobs = [shared.descriptor.size, api.descriptor.size, worker.descriptor.size]
    blobs += [int(c["size"]) for c in configs]  # type: ignore[index]
    blobs.append(int(harnesslib.read_image(python_base).layers[0]["size"]))  # type: ignore[call-overload]
    assert report.total_upload_bytes == sum(blobs)
    # The CLI gives the same counts and stops its registry.
    r = script("registry.py", "--push", str(one), "v1", "a/one", "--push", str(two), "v1", "a/two")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["blobs"][shared.descriptor.digest]["uploads"] == 1


def test_naive_layers_hit_podmans_limit(python_base: Path, tmp_path: Path) -> None:
    need("podman", "runc")
    over, under = tmp_path / "over", tmp_path / "under"
    w = tmp_path / "pkgs"
    w.mkdir()
    real = build_package(w, "six==1.16.0", {"opt/site/six.py": b"PY3 = True\n"})
    desc = real.blob.with_name(real.blob.name.removesuffix(".tar.gz") + ".json")
    # One real package (descriptor + blob, as the per-package action writes them) + 128.
    r = script(
        "naive_layers.py",
        "--base",
        str(python_base),
        "--out",
        str(over),
        "--package",
        str(desc),
        str(real.blob),
        "--packages",
        "128",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["layers"] == 130
    assert harnesslib.read_image(over).layer_digests[1] == real.descriptor.digest
    naive_layers.make(python_base, under, 119)
    assert len(harnesslib.read_image(under).layers) == 120

    r = script("podman_run.py", "--layout", str(over), "--expect-max-depth", "--", "true")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "max depth exceeded" in r.stderr and "it has 130 layers" in r.stderr
    # The line comes from describe_max_depth (plain mode prints it too, then exits 3).
    result = podman_run.RunResult("run", 126, "", "Error: mounting: max depth exceeded\n")
    assert result.max_depth_exceeded
    line = podman_run.describe_max_depth(over, "latest", result)
    assert line.startswith("max depth exceeded: podman could not run ")
    assert line.partition(" (podman: ")[0] in r.stderr
    assert line.endswith("(podman: Error: mounting: max depth exceeded)")
    r = script(
        "podman_run.py",
        "--layout",
        str(under),
        "--entrypoint",
        "cat",
        "--",
        "/opt/naive/pkg_0001.txt",
        "/opt/naive/pkg_0119.txt",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "pkg_0001\npkg_0119\n"
    assert podman_run.OVERLAY_LIMIT == 128


def test_nopython_base_has_no_python_and_runs(tmp_path: Path) -> None:
    need("debootstrap", "umoci", "tar", "podman", "runc")
    layout = base_image.ensure("nopython")
    img = harnesslib.read_image(layout, "latest")
    assert len(img.layers) == 1
    assert img.layer_digests != harnesslib.read_image(base_image.ensure("python")).layer_digests
    r = script(
        "podman_run.py",
        "--layout",
        str(layout),
        "--entrypoint",
        "/bin/sh",
        "--",
        "-c",
        "ls /usr/bin/python3* 2>/dev/null; echo shell ok; ldd --version | head -1",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "shell ok"
    assert "GLIBC 2.36" in r.stdout  # bookworm's libc, for an interpreter from the build


def test_podman_runs_a_layout_whose_path_has_capitals(python_base: Path, tmp_path: Path) -> None:
    # podman names a pulled oci: layout after its path, and names are lowercase.
    layout = tmp_path / "Upper" / "Layout"
    shutil.copytree(python_base, layout)
    r = script(
        "podman_run.py", "--layout", str(layout), "--tag", "latest",
        "--entrypoint", "/usr/bin/python3", "--", "-c", "print('capitals ok')",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "capitals ok"


# The path-component grammar of image references (distribution/reference):
# lowercase alphanumerics joined by one separator: ".", "_", "__" or any dashes.
REFERENCE_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")


def test_podman_store_folders_make_valid_image_names() -> None:
    # podman names an image pulled from oci:<store>/layout after that path; a
    # mkdtemp suffix like "-_bwzx5mu" once failed a CI run ("invalid reference").
    made = [podman_run.store_dir() for _ in range(300)]
    try:
        assert len(set(made)) == len(made)
        for store in made:
            assert store.is_dir() and store.stat().st_mode & 0o777 == 0o700
            for part in (store / "layout").parts[1:]:
                assert REFERENCE_COMPONENT.fullmatch(part), f"{store}: {part!r} is not a valid name"
    finally:
        for store in made:
            store.rmdir()


def test_e2e_workspace_copy_points_at_this_repository(tmp_path: Path) -> None:
    ws = harnesslib.copy_e2e_workspace(tmp_path / "e2e")
    repo = str(harnesslib.REPO)
    module = (ws / "MODULE.bazel").read_text()
    assert f'path = "{repo}",' in module and 'path = "..",' not in module
    rc = (ws / ".bazelrc").read_text()
    assert f"{repo}/" in rc and "%workspace%/../" not in rc
    assert (ws / "apps" / "api" / "BUILD.bazel").is_file()
    assert not [p.name for p in ws.iterdir() if p.name.startswith("bazel-")]
    assert not (ws / "tests").exists() and not (ws / "harness").exists()
