"""A fleet's state from what its images built (fleet/state.py, ``pyimage fleet-state``)."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
from enginekit import build_package, pyimage
from fleetkit import Fleet, ok

from pyimage.engine import layer


def build_image(
    fleet: Fleet,
    root: Path,
    name: str,
    keys: list[str],
    *apps: bytes,
    library: layer.Member | None = None,
) -> list[str]:
    """``pyimage image`` of ``keys`` planned alone (and a library layer), an app layer per
    binary: fleet-state flags."""
    out = root / name.replace("/", "_").replace(":", "_")
    more = ["--library", str(library.descriptor_path), str(library.blob)] if library else []
    ok("image", "--out", str(out), "--plan-out", f"{out}.plan.json", "--image-name", name,
       "--max-layers", "20", "--reserved", str(len(apps) + len(more) // 3),
       *fleet.package_args(keys), *more)  # fmt: skip
    app_layers = [Path(f"{out}.app{i}.tar.gz") for i in range(len(apps))]
    for path, app in zip(app_layers, apps, strict=True):
        path.write_bytes(gzip.compress(app, mtime=0))
    return [f"--image={name}", "--layout", str(out), "--plan", f"{out}.plan.json",
            "--app-layer", *map(str, app_layers)]  # fmt: skip


@pytest.fixture()
def fleet(tmp_path: Path) -> Fleet:
    f = Fleet(tmp_path / "pkgs")
    (tmp_path / "pkgs").mkdir()
    for pid, size in (("numpy==2.0.0", 60_000), ("six==1.17.0", 3000), ("idna==3.7", 4000)):
        f.package(pid, size)
    return f


def write_state(fleet: Fleet, root: Path, images: dict[str, list[str]]) -> dict:
    inputs = fleet.inputs({name: fleet.entry(keys) for name, keys in images.items()})
    flags = [
        f
        for name, keys in images.items()
        for f in build_image(fleet, root, name, keys, name.encode())
    ]
    out = root / "fleet.state.json"
    ok("fleet-state", "--fleet-label=//:fleet", "--inputs", str(inputs), *flags, "--out", str(out))
    return json.loads(out.read_text())


def test_each_image_is_its_layouts_layers_then_its_app_layer(fleet: Fleet, tmp_path: Path) -> None:
    keys = ["numpy==2.0.0", "six==1.17.0", "idna==3.7"]
    doc = write_state(fleet, tmp_path, {"//apps/api:image": keys})
    image = doc["images"]["//apps/api:image"]["linux/amd64"]
    layout = tmp_path / "__apps_api_image"
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    manifest_bytes = (blobs / index["manifests"][0]["digest"][7:]).read_bytes()
    manifest = json.loads(manifest_bytes)
    expected = [(d["digest"], d["size"]) for d in manifest["layers"]]
    app = (tmp_path / "__apps_api_image.app0.tar.gz").read_bytes()
    expected.append(("sha256:" + hashlib.sha256(app).hexdigest(), len(app)))
    assert [(lay["digest"], lay["size"]) for lay in image["layers"]] == expected
    assert [lay["kind"] for lay in image["layers"]][-1] == "app"
    assert {p for lay in image["layers"] for p in lay["packages"]} == set(keys)
    assert image["metadata_bytes"] == len(manifest_bytes) + manifest["config"]["size"]


def test_an_image_of_several_binaries_ends_with_their_app_layers_in_order(
    fleet: Fleet, tmp_path: Path
) -> None:
    keys = ["six==1.17.0"]
    inputs = fleet.inputs({"//a:image": fleet.entry(keys)})
    flags = build_image(fleet, tmp_path, "//a:image", keys, b"api", b"worker")
    out = tmp_path / "state.json"
    ok("fleet-state", "--fleet-label=//:fleet", "--inputs", str(inputs), *flags, "--out", str(out))
    layers = json.loads(out.read_text())["images"]["//a:image"]["linux/amd64"]["layers"]
    apps = [tmp_path / f"__a_image.app{i}.tar.gz" for i in (0, 1)]
    want = ["sha256:" + hashlib.sha256(a.read_bytes()).hexdigest() for a in apps]
    assert [lay["digest"] for lay in layers if lay["kind"] == "app"] == want
    assert [lay["kind"] for lay in layers][-2:] == ["app", "app"]


def test_a_library_layer_is_its_own_kind_kept_in_every_baseline(
    fleet: Fleet, tmp_path: Path
) -> None:
    lib = build_package(
        tmp_path / "lib", "library://libs/a:a", {"opt/pyimage/libraries/_main/libs/a/x.py": b"x"}
    )
    keys = ["numpy==2.0.0", "six==1.17.0"]
    inputs = fleet.inputs({"//a:image": fleet.entry(keys, reserved=2)})
    flags = build_image(fleet, tmp_path, "//a:image", keys, b"a", library=lib)
    out = tmp_path / "state.json"
    ok("fleet-state", "--fleet-label=//:fleet", "--inputs", str(inputs), *flags, "--out", str(out))
    image = json.loads(out.read_text())["images"]["//a:image"]["linux/amd64"]
    kinds = [lay["kind"] for lay in image["layers"]]
    assert kinds[-2:] == ["library", "app"], kinds
    assert image["layers"][-2]["digest"] == lib.descriptor.digest
    for baseline in image["baselines"].values():
        assert [lay["kind"] for lay in baseline][-2:] == ["library", "app"]
        assert baseline[-2] == image["layers"][-2]


def test_baselines_lay_the_same_packages_out_as_the_usual_builds(
    fleet: Fleet, tmp_path: Path
) -> None:
    keys = ["numpy==2.0.0", "six==1.17.0", "idna==3.7"]
    doc = write_state(fleet, tmp_path, {"//apps/api:image": keys})
    image = doc["images"]["//apps/api:image"]["linux/amd64"]
    ours = image["layers"]
    one = image["baselines"]["one-layer-per-app"]
    heavy = image["baselines"]["heavy-list"]
    # Base, interpreter and app layers are ours in every baseline.
    assert one[-1] == heavy[-1] == ours[-1]
    (site,) = [lay for lay in one if lay["kind"] == "package"]
    assert site["packages"] == sorted(keys) and site["digest"].startswith("layer-of:")
    members = [fleet.members[k] for k in keys]
    assert site["size"] == layer.merged_size(members).blob
    # The heavy-list puts numpy alone (its own blob, as ours), the rest in one layer.
    packages = [lay["packages"] for lay in heavy if lay["kind"] == "package"]
    assert packages == [["numpy==2.0.0"], ["idna==3.7", "six==1.17.0"]]
    assert heavy[0]["digest"] == fleet.members["numpy==2.0.0"].descriptor.digest


def test_an_image_not_in_the_inputs_and_unpaired_flags_are_refused(
    fleet: Fleet, tmp_path: Path
) -> None:
    inputs = fleet.inputs({"//a:image": fleet.entry(["six==1.17.0"])})
    flags = build_image(fleet, tmp_path, "//b:image", ["six==1.17.0"], b"b")
    out = tmp_path / "state.json"
    r = pyimage("fleet-state", "--fleet-label=//:fleet", "--inputs", str(inputs), *flags,
                "--out", str(out))  # fmt: skip
    assert (
        r.returncode == 2 and "image //b:image is built but not in the fleet's inputs" in r.stderr
    )
    r = pyimage("fleet-state", "--fleet-label=//:fleet", "--inputs", str(inputs), *flags[:3],
                "--out", str(out))  # fmt: skip
    assert r.returncode == 2 and "give each --image with one --layout" in r.stderr
    assert not out.exists()


def test_a_plan_report_of_another_build_is_refused(fleet: Fleet, tmp_path: Path) -> None:
    keys = ["numpy==2.0.0", "six==1.17.0"]
    inputs = fleet.inputs({"//a:image": fleet.entry(keys)})
    flags = build_image(fleet, tmp_path, "//a:image", keys, b"a")
    # The plan report of a build with one package layer more than this layout's.
    plan = json.loads(Path(flags[4]).read_text())
    plan["package_layers"] += 1
    other = tmp_path / "other.plan.json"
    other.write_text(json.dumps(plan))
    flags[4] = str(other)
    r = pyimage("fleet-state", "--fleet-label=//:fleet", "--inputs", str(inputs), *flags,
                "--out", str(tmp_path / "s.json"))  # fmt: skip
    assert r.returncode == 2 and "the plan report counts" in r.stderr, r.stderr
    assert not (tmp_path / "s.json").exists()
