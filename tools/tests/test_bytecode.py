"""Bytecode in layers: one unchecked-hash .pyc per module, the image's paths, the same bytes."""

from __future__ import annotations

import importlib.util
import io
import json
import marshal
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from enginekit import TOOLS, build_package, pyimage, write_manifest

from pyimage.engine import bytecode, layer, oci_layout, package
from pyimage.engine import descriptor as desc_mod
from pyimage.errors import PyimageError
from pyimage.fleet import image
from pyimage.formats import plan_report

VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"
TAG = sys.implementation.cache_tag  # cpython-311
SITE = "opt/pyimage/site-packages"
SOURCE = b'X = {1, 2, "a"}\n\ndef fail():\n    raise ValueError("boom")\n'


def build(workdir: Path, spec: dict[str, bytes], version: str = VERSION) -> tuple[bytes, object]:
    """Build package ``demo==1`` with bytecode through the command line; (blob, descriptor)."""
    manifest = write_manifest(workdir, "demo==1", spec)
    blob, desc = workdir / "demo.tar.gz", workdir / "demo.json"
    subprocess.run(
        [
            *(sys.executable, "-m", "pyimage", "package-tar", "--manifest", str(manifest)),
            *("--blob", str(blob), "--descriptor", str(desc), "--python-version", version),
        ],
        cwd=TOOLS,
        check=True,
        capture_output=True,
    )
    return blob.read_bytes(), json.loads(desc.read_text())


def members(blob: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_each_module_gets_an_unchecked_hash_pyc_recording_its_image_path(tmp_path: Path) -> None:
    spec = {f"{SITE}/demo/__init__.py": SOURCE, f"{SITE}/demo/data.txt": b"x"}
    blob, desc = build(tmp_path, spec)
    files = members(blob)
    name = f"{SITE}/demo/__pycache__/__init__.{TAG}.pyc"
    pyc = files[name]
    assert sorted(files) == sorted([*spec, name])
    assert pyc[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # hash-based, not checked against the source
    assert pyc[8:16] == importlib.util.source_hash(SOURCE)
    code = marshal.loads(pyc[16:])
    assert code.co_filename == f"/{SITE}/demo/__init__.py"
    assert desc["bytecode"] == {"python": VERSION, "skipped": []}


def test_the_image_imports_the_bytecode_without_writing(tmp_path: Path) -> None:
    # Unpacked into a read-only folder, the module imports from the .pyc: a
    # changed source is not even read (unchecked-hash), and nothing is written.
    blob, _ = build(tmp_path, {f"{SITE}/demo/__init__.py": SOURCE})
    root = tmp_path / "root"
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        tf.extractall(root, filter="data")
    (root / SITE / "demo" / "__init__.py").write_bytes(b"X = 'changed'\n")
    for p in sorted(root.rglob("*"), reverse=True):
        p.chmod(0o555 if p.is_dir() else 0o444)
    r = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]);"
            " import demo; print(sorted(demo.X, key=str)); demo.fail()",
            str(root / SITE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.stdout.strip() == "[1, 2, 'a']", r.stderr
    # The old code ran (line 4 of the old source; the new one has 1 line).
    # Python names the file where it found it (here, not /opt/...).
    assert f'{SITE}/demo/__init__.py", line 4, in fail' in r.stderr
    assert sorted(p.name for p in (root / SITE / "demo" / "__pycache__").iterdir()) == [
        f"__init__.{TAG}.pyc"
    ]


def test_bytecode_bytes_depend_on_neither_folder_nor_mtime_nor_process(tmp_path: Path) -> None:
    spec = {f"{SITE}/demo/__init__.py": SOURCE, f"{SITE}/demo/sub/m.py": b"import os\nY = os.sep\n"}
    a, _ = build(tmp_path / "a", spec)
    later = tmp_path / "b"
    manifest = write_manifest(later, "demo==1", spec)
    for src in (later / "src").rglob("*"):
        os.utime(src, (1_000_000, 1_000_000))
    # In this process (as the persistent worker would), twice.
    for i in range(2):
        out = later / f"{i}.tar.gz"
        loaded = package.load_manifest(manifest)
        with_pyc, done = bytecode.add_bytecode(loaded, VERSION, later / f"pyc{i}")
        (later / f"pyc{i}").mkdir(exist_ok=True)
        package.write_package(with_pyc, out, bytecode=(done.python_version, done.skipped))
        assert out.read_bytes() == a, f"run {i} in this process gave other bytes"


def test_a_module_that_does_not_compile_is_listed_not_fatal(tmp_path: Path) -> None:
    spec = {f"{SITE}/old/py2.py": b'print "py2"\n', f"{SITE}/old/ok.py": b"A = 1\n"}
    blob, desc = build(tmp_path, spec)
    files = members(blob)
    assert f"{SITE}/old/__pycache__/ok.{TAG}.pyc" in files
    assert not any("py2." in name and name.endswith(".pyc") for name in files)
    assert desc["bytecode"]["skipped"] == [f"{SITE}/old/py2.py"]


def test_bytecode_already_in_the_package_is_replaced_by_ours(tmp_path: Path) -> None:
    # rules_python's precompile (or a wheel) may ship __pycache__: one .pyc per module, ours.
    theirs = f"{SITE}/demo/__pycache__/__init__.{TAG}.pyc"
    stale = f"{SITE}/demo/__pycache__/gone.cpython-39.pyc"
    blob, _ = build(
        tmp_path, {f"{SITE}/demo/__init__.py": SOURCE, theirs: b"not ours", stale: b"old"}
    )
    files = members(blob)
    assert files[theirs][:4] == importlib.util.MAGIC_NUMBER
    assert stale not in files


@pytest.mark.parametrize("value", ["3", "python3.11", "3.11.2", "2.7", ""])
def test_a_python_version_that_is_not_3_n_is_one_line(tmp_path: Path, value: str) -> None:
    manifest = package.load_manifest(write_manifest(tmp_path, "demo==1", {"a.py": b""}))
    with pytest.raises(PyimageError) as err:
        bytecode.add_bytecode(manifest, value, tmp_path)
    assert "\n" not in str(err.value) and "--python-version" in str(err.value)
    assert "3.N" in str(err.value)


def test_bytecode_for_another_python_than_pyimage_runs_on_is_refused(tmp_path: Path) -> None:
    other = f"3.{sys.version_info[1] + 1}"
    manifest = package.load_manifest(write_manifest(tmp_path, "demo==1", {"a.py": b""}))
    with pytest.raises(PyimageError) as err:
        bytecode.add_bytecode(manifest, other, tmp_path)
    message = str(err.value)
    assert "\n" not in message and "demo==1" in message and other in message
    assert "bytecode_interpreter" in message and "precompile=off" in message


def test_bytecode_is_compiled_by_the_interpreter_given(tmp_path: Path) -> None:
    # A stand-in interpreter that says it is another version is refused by
    # the version check it runs; one that cannot run is named.
    manifest = package.load_manifest(write_manifest(tmp_path, "demo==1", {"a.py": b"A = 1\n"}))
    fake = tmp_path / "python3.99"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'print(\"3.99\"); raise SystemExit(3)'\n")
    fake.chmod(0o755)
    with pytest.raises(PyimageError, match=r"python3\.99 is 3\.99; set --@rules_pyimage"):
        bytecode.add_bytecode(manifest, VERSION, tmp_path / "o", python=str(fake))
    with pytest.raises(PyimageError, match="cannot run"):
        bytecode.add_bytecode(manifest, VERSION, tmp_path / "o", python=str(tmp_path / "none"))
    done, _ = bytecode.add_bytecode(manifest, VERSION, tmp_path / "o", python=sys.executable)
    assert [e.path for e in done.entries if e.path.endswith(".pyc")] == [f"__pycache__/a.{TAG}.pyc"]


def test_a_layer_never_mixes_bytecode_of_two_pythons(tmp_path: Path) -> None:
    plain = build_package(tmp_path, "plain==1", {f"{SITE}/plain.py": b"A = 1\n"})
    manifest = package.load_manifest(write_manifest(tmp_path, "demo==1", {f"{SITE}/d.py": b""}))
    compiled, done = bytecode.add_bytecode(manifest, VERSION, tmp_path / "pyc")
    blob = tmp_path / "demo.tar.gz"
    d = package.write_package(compiled, blob, bytecode=(done.python_version, done.skipped))
    with pytest.raises(PyimageError) as err:
        layer.merge([plain, layer.Member(d, blob)], tmp_path / "m.tar.gz")
    assert "demo==1" in str(err.value) and "plain==1" in str(err.value)
    assert not (tmp_path / "m.tar.gz").exists()


def compiled(workdir: Path, name: str, spec: dict[str, bytes]) -> layer.Member:
    """A package built with bytecode for this Python, as the package action builds it."""
    manifest = package.load_manifest(write_manifest(workdir, name, spec))
    with_pyc, done = bytecode.add_bytecode(manifest, VERSION, workdir / f"{name}.pyc")
    blob = workdir / f"{name}.tar.gz"
    d = package.write_package(with_pyc, blob, bytecode=(done.python_version, done.skipped))
    return layer.Member(d, blob)


def test_the_image_checks_its_packages_and_base_against_its_python(tmp_path: Path) -> None:
    member = compiled(tmp_path, "demo==1", {f"{SITE}/d.py": b"D = 1\n"})

    def spec(python_version: str, base_python: str | None) -> image.ImageSpec:
        env = [f"PYTHON_VERSION={base_python}"] if base_python else []
        config = {"architecture": "amd64", "os": "linux", "config": {"Env": env}}
        base = oci_layout.BaseImage(root=None, config=config)
        return image.ImageSpec("//a:image", 10, [member], base=base, python_version=python_version)

    image.check_bytecode(spec(VERSION, None))
    image.check_bytecode(spec(VERSION, f"{VERSION}.7"))
    with pytest.raises(PyimageError) as err:
        image.check_bytecode(spec(VERSION, "3.9.18"))
    assert "\n" not in str(err.value) and "3.9.18" in str(err.value)
    assert "--@rules_pyimage//py:python_version=3.9" in str(err.value)
    with pytest.raises(PyimageError, match="package demo==1 has bytecode for"):
        image.check_bytecode(spec("", None))


def test_the_plan_report_names_the_modules_that_did_not_compile(tmp_path: Path) -> None:
    spec = {f"{SITE}/old/py2.py": b'print "x"\n', f"{SITE}/ok.py": b""}
    member = compiled(tmp_path, "old==1", spec)
    desc = tmp_path / "old.json"
    desc_mod.save(member.descriptor, desc)
    out, plan_out = tmp_path / "layout", tmp_path / "plan.json"
    r = pyimage(
        *("image", "--out", str(out), "--plan-out", str(plan_out), "--python-version", VERSION),
        *("--package", str(desc), str(member.blob)),
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(plan_out.read_text())
    assert report["bytecode"] == VERSION
    assert report["layers"][0]["bytecode_skipped"] == [f"{SITE}/old/py2.py"]
    shown = plan_report.render(plan_report.check(report, "plan"))
    assert f"bytecode: Python {VERSION}; 1 modules did not compile: {SITE}/old/py2.py" in shown
