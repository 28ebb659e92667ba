"""A declared layer group's own compression: the engine's recompressed merge, an image
alone, a fleet's lock (v7) and shared layers, and the checks. Runs the zstd program."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from enginekit import build_package, mixed_bytes, need_tool, pyimage, unzstd
from fleetkit import Fleet, ok, plan, slice_of
from test_fleet_report import manifest_layers

from pyimage import planner
from pyimage.engine import layer
from pyimage.engine.compression import MEDIA_TYPES, Compression
from pyimage.errors import PyimageError
from pyimage.fleet import groups
from pyimage.formats import lock as lock_format

MIB = 1 << 20
GPU = ["torch==2", "triton==3", "nvidia-cublas==12"]
TRAIN = [*GPU, "six==1"]
SERVE = ["torch==2", "six==1"]
DECLARED = {"groups": {"gpu": ["torch", "triton", "nvidia-*"]}, "alone": []}
ZSTD_GPU = {**DECLARED, "compression": {"gpu": "zstd"}}


@pytest.fixture(scope="module")
def zstd_program() -> str:
    return need_tool("zstd")


def _settings(name: str, zstd_program: str) -> Compression:
    return Compression.of(name, zstd=zstd_program)


def _pair(root: Path, zstd_program: str) -> tuple[Fleet, Fleet]:
    """The fleet's packages built twice: gzip (the images') and zstd (what Bazel's
    fleet_group builds for a zstd group), of the same files."""
    gz, zs = Fleet(root / "gzip"), Fleet(root / "zstd", _settings("zstd", zstd_program))
    for f in (gz, zs):
        f.root.mkdir()
        for pid in TRAIN:
            f.package(pid, 2 * MIB if pid in GPU else 20_000)
    return gz, zs


@pytest.mark.parametrize(("source", "target"), [("gzip", "zstd"), ("zstd", "gzip")])
@pytest.mark.parametrize("count", [1, 3])
def test_a_layer_of_another_compression_is_the_merge_of_its_packages_built_in_it(
    source: str, target: str, count: int, zstd_program: str, tmp_path: Path
) -> None:
    # Three members sharing an identical namespace file (the one a merge drops
    # from the later member), or one member alone.
    def built(comp: str) -> list[layer.Member]:
        work = tmp_path / comp
        work.mkdir()
        settings = _settings(comp, zstd_program)
        return [
            build_package(
                work,
                f"p{i}==1",
                {
                    f"site-packages/p{i}/big.bin": mixed_bytes((i + 1) * MIB + 77, b"%d" % i),
                    "site-packages/ns/__init__.py": b"# shared\n",
                },
                settings,
            )
            for i in range(count)
        ]

    given, native = built(source), built(target)
    again = layer.merge(
        given, tmp_path / "again", settings=_settings(source, zstd_program), into=target
    )
    straight = layer.merge(native, tmp_path / "straight", settings=_settings(target, zstd_program))
    assert (tmp_path / "again").read_bytes() == (tmp_path / "straight").read_bytes()
    assert again.digest == straight.digest and again.diff_id == straight.diff_id
    assert again.media_type == MEDIA_TYPES[target]
    if count == 1:  # a package compressed again is that package built so
        assert again.digest == native[0].descriptor.digest
    # The size the report works out without compressing is not claimed exact.
    assert not layer.merged_size(given, into=target).exact
    assert layer.merged_size(given, into=source).exact is (count == 1)


def test_a_declaration_of_compressions_is_checked_in_one_line() -> None:
    with pytest.raises(PyimageError) as err:
        planner.declared({"gpu": ["torch"]}, [], "image //a:b", {"gpx": "zstd"})
    assert str(err.value) == (
        "image //a:b: group_compression names 'gpx', which is no layer group; name a group"
        " of layer_groups (gpu)"
    )
    with pytest.raises(PyimageError) as err:
        planner.declared({"gpu": ["torch"]}, [], "image //a:b", {"gpu": "lz4"})
    assert str(err.value) == (
        "image //a:b: layer group 'gpu' chooses compression 'lz4'; use one of gzip, zstd"
    )
    both = planner.declared({"gpu": ["torch", "nvidia-*"], "web": ["six"]}, ["idna"], "x", {
        "gpu": "zstd"
    })  # fmt: skip
    assert both.compression_of(["torch==2", "nvidia-cublas==12"]) == "zstd"
    assert both.compression_of(["torch==2"]) == "zstd"
    assert both.compression_of(["six==1"]) is None  # a group of the image's compression
    assert both.compression_of(["idna==1"]) is None
    assert both.compression_of(["torch==2", "six==1"]) is None  # no layer of one group
    # The declaration's compressions are the engine's.
    assert set(planner.COMPRESSIONS) == set(MEDIA_TYPES)


def _image(f: Fleet, pids: list[str], out: Path, zstd: str, *more: str) -> dict:
    """``pyimage image`` of ``pids`` (gzip packages) into ``out``; its plan report."""
    ok("image", "--out", str(out), "--plan-out", f"{out}.plan.json", "--image-name", "//a:b",
       "--zstd", zstd, *f.package_args(pids), *more)  # fmt: skip
    return json.loads(Path(f"{out}.plan.json").read_text())


def _by_members(layout: Path) -> dict[tuple[str, ...], dict]:
    return {
        tuple(sorted(d["annotations"]["dev.rules-pyimage.packages"].split(","))): d
        for d in manifest_layers(layout)
    }


def test_an_image_writes_its_group_in_the_groups_compression(
    zstd_program: str, tmp_path: Path
) -> None:
    gz, zs = _pair(tmp_path, zstd_program)
    out = tmp_path / "train"
    report = _image(gz, TRAIN, out, zstd_program, "--declared", json.dumps(ZSTD_GPU))
    layers = _by_members(out)
    gpu = tuple(sorted(GPU))
    assert layers[gpu]["mediaType"] == MEDIA_TYPES["zstd"]
    assert layers[("six==1",)]["mediaType"] == MEDIA_TYPES["gzip"]
    # The layer is the merge of the same packages built as zstd, byte for byte.
    want = layer.merge([zs.members[p] for p in GPU], tmp_path / "want", settings=zs.compression)
    assert layers[gpu]["digest"] == want.digest
    blob = out / "blobs" / "sha256" / want.digest.split(":")[1]
    with tarfile.open(fileobj=io.BytesIO(unzstd(blob.read_bytes()))) as tar:
        names = tar.getnames()
    assert {f"sp/{p.split('==')[0]}/__init__.py" for p in GPU} <= set(names), names
    got = {tuple(lay["packages"]): lay for lay in report["layers"]}
    assert got[gpu]["compression"] == "zstd" and got[gpu]["reason"] == "declared layer group gpu"
    assert "compression" not in got[("six==1",)]
    table = ok("show-plan", f"{out}.plan.json").stdout.splitlines()
    assert [ln for ln in table if "declared layer group gpu (zstd): " in ln], table
    # A group of one package: its layer is that package built as zstd.
    out = tmp_path / "serve"
    alone = {"groups": {"gpu": ["torch"]}, "compression": {"gpu": "zstd"}}
    _image(gz, SERVE, out, zstd_program, "--declared", json.dumps(alone))
    assert _by_members(out)[("torch==2",)]["digest"] == zs.members["torch==2"].descriptor.digest
    # Without the zstd program (an image action Bazel gave no zstd toolchain): one line.
    r = pyimage("image", "--out", str(tmp_path / "no"), "--plan-out", str(tmp_path / "no.json"),
                "--zstd", str(tmp_path / "missing-zstd"), "--declared", json.dumps(ZSTD_GPU),
                *gz.package_args(TRAIN))  # fmt: skip
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "zstd" in r.stderr and not (tmp_path / "no").exists()


def _plan(f: Fleet, out: Path, declared: dict | None, *more: str) -> dict:
    """``fleet-plan`` of a training and a serving image, the fleet declaring ``declared``."""
    images = {"//train:image": TRAIN, "//serve:image": SERVE}
    return plan(f, images, out, *more, label="//:fleet", declared=declared)


def test_a_fleet_shares_its_groups_layers_in_their_compression(
    zstd_program: str, tmp_path: Path
) -> None:
    gz, zs = _pair(tmp_path, zstd_program)
    lock = tmp_path / "lock.json"
    doc = _plan(gz, lock, ZSTD_GPU)
    assert doc["format"] == lock_format.FORMAT == "rules_pyimage.fleet-lock/v7"
    assert doc["declared"]["compression"] == {"gpu": "zstd"}
    entries = {
        name: {tuple(lay["packages"]): lay for lay in e["layers"]}
        for name, e in doc["images"].items()
    }
    gpu, torch = (
        entries["//train:image"][tuple(sorted(GPU))],
        entries["//serve:image"][("torch==2",)],
    )
    # Each layer of the group says its compression and is a shared layer, torch
    # alone too, known by the builds in that compression.
    for lay, pids in ((gpu, GPU), (torch, ["torch==2"])):
        assert lay["compression"] == "zstd"
        assert lay["group"] == groups.group_id([zs.build(p) for p in pids])
        assert lay["group"] == groups.group_id([gz.build(p) for p in pids], "zstd")
    six = entries["//serve:image"][("six==1",)]
    assert "compression" not in six and "group" not in six
    # The builds stay the images' (gzip).
    assert {b["compression"] for d in doc["packages"].values() for b in d.values()} == {"gzip"}
    # What Bazel's fleet_group does: merge each from the members built in zstd.
    merged = tmp_path / "merged"
    merged.mkdir()
    for lay, pids in ((gpu, GPU), (torch, ["torch==2"])):
        gid = lay["group"]
        ok("fleet-merge-group", "--group", gid, *zs.package_args(sorted(pids)),
           "--blob", str(merged / f"{gid}.tar.zst"), "--descriptor", str(merged / f"{gid}.json"),
           "--zstd", zstd_program)  # fmt: skip
    # Each image takes the fleet's layers; an image given none writes the same bytes.
    for name, pids, lay in (("//train:image", TRAIN, gpu), ("//serve:image", SERVE, torch)):
        own = slice_of(lock, name, tmp_path / "slice.json")
        gid = lay["group"]
        shared = ["--fleet-group", gid, str(merged / f"{gid}.json"), str(merged / f"{gid}.tar.zst")]
        digests = []
        for tag, more in (("shared", shared), ("own", [])):
            out = tmp_path / f"{name[2:7]}-{tag}"
            ok("image", "--out", str(out), "--plan-out", f"{out}.plan.json", "--image-name", name,
               "--fleet-lock", str(own), "--zstd", zstd_program, *more,
               *gz.package_args(pids))  # fmt: skip
            found = _by_members(out)[tuple(sorted(lay["packages"]))]
            assert found["mediaType"] == MEDIA_TYPES["zstd"], (name, tag)
            digests.append(found["digest"])
        want = json.loads((merged / f"{gid}.json").read_text())["digest"]
        assert digests == [want, want], name


@pytest.mark.parametrize("version", [5, 6])
def test_an_earlier_lock_reads_as_v7_and_the_update_migrates_it(
    version: int, zstd_program: str, tmp_path: Path
) -> None:
    # A v5 or v6 lock of a fleet that declares layers (v5 is the first to record them).
    gz, _ = _pair(tmp_path, zstd_program)
    current = _plan(gz, tmp_path / "v7.json", DECLARED)
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**current, "format": f"rules_pyimage.fleet-lock/v{version}"}))
    read = lock_format.read(str(old), "fleet lock")
    assert read.version == version and not read.current
    assert read.declared == lock_format.read(str(tmp_path / "v7.json")).declared
    r = pyimage("fleet-check", "--lock", str(old), "--plan", str(tmp_path / "v7.json"),
                "--lock-path", "fleet.lock.json", "--update-target", "//:fleet.update",
                "--fleet-label", "//:fleet")  # fmt: skip
    assert r.returncode == 1 and "not rules_pyimage.fleet-lock/v7" in r.stdout, r.stdout
    # `.update` (fleet-plan from the v6 lock) writes v7: only the format line changes.
    assert _plan(gz, tmp_path / "new.json", DECLARED, "--previous", str(old)) == current
    # Choosing a compression makes the lock stale, naming the declaration.
    fresh = tmp_path / "fresh.json"
    _plan(gz, fresh, ZSTD_GPU)
    r = pyimage("fleet-check", "--lock", str(tmp_path / "v7.json"), "--plan", str(fresh),
                "--lock-path", "fleet.lock.json", "--update-target", "//:fleet.update",
                "--fleet-label", "//:fleet")  # fmt: skip
    assert r.returncode == 1 and '"compression": {"gpu": "zstd"}' in r.stdout, r.stdout
    # A lock whose layer names a compression pyimage does not write is refused.
    bad = json.loads(fresh.read_text())
    bad["images"]["//serve:image"]["layers"][0]["compression"] = "lz4"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(PyimageError, match="'lz4', not one of gzip, zstd"):
        lock_format.read(str(tmp_path / "bad.json"), "fleet lock")


def test_an_images_plan_report_shows_what_its_declaration_costs(
    zstd_program: str, tmp_path: Path
) -> None:
    # The automatic plan's sizes are worked out from descriptors; here they are
    # checked against the image built without the declaration.
    gz, _ = _pair(tmp_path, zstd_program)
    plain = _image(gz, TRAIN, tmp_path / "plain", zstd_program)
    assert "declared_cost" not in plain, "nothing declared: nothing to compare"
    plain_bytes = sum(d["size"] for d in manifest_layers(tmp_path / "plain"))
    for name, declared in (("gzip", DECLARED), ("zstd", ZSTD_GPU)):
        out = tmp_path / f"declared-{name}"
        cost = _image(gz, TRAIN, out, zstd_program, "--declared", json.dumps(declared))[
            "declared_cost"
        ]
        n = len(plain["layers"])
        assert cost["automatic_package_layers"] == n and n != cost["package_layers"]
        assert cost["automatic_exact"] and cost["automatic_blob_bytes"] == plain_bytes
        assert cost["package_layers"] == 2  # gpu, six
        assert cost["blob_bytes"] == sum(d["size"] for d in manifest_layers(out))
        table = ok("show-plan", f"{out}.plan.json").stdout
        want = (
            f"  declared layers: {cost['blob_bytes'] / MIB:.2f} MiB in 2 layers; the automatic"
            f" plan, nothing declared: {plain_bytes / MIB:.2f} MiB in {n} layers"
        )
        assert want in table.splitlines(), table
    # zstd's group is smaller than gzip's.
    gzip_plan = Path(f"{tmp_path / 'declared-gzip'}.plan.json")
    gzip_cost = json.loads(gzip_plan.read_text())["declared_cost"]
    assert cost["blob_bytes"] < gzip_cost["blob_bytes"]


def test_a_group_choosing_its_images_compression_is_refused_in_one_line(
    zstd_program: str, tmp_path: Path
) -> None:
    gz, _ = _pair(tmp_path, zstd_program)
    same = {**DECLARED, "compression": {"gpu": "gzip"}}
    inputs = gz.inputs({"//a:image": gz.entry(TRAIN)}, declared=same, fleet="//:fleet")
    r = pyimage("fleet-plan", "--inputs", str(inputs), "--out", str(tmp_path / "lock.json"))
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "pyimage: error: fleet //:fleet: layer group 'gpu' chooses compression gzip, which every"
        " layer has anyway; drop it from group_compression"
    ]
    assert not (tmp_path / "lock.json").exists()
    out = tmp_path / "image"
    r = pyimage("image", "--out", str(out), "--plan-out", f"{out}.json", "--image-name", "//a:b",
                "--declared", json.dumps(same), *gz.package_args(TRAIN))  # fmt: skip
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "pyimage: error: image //a:b: layer group 'gpu' chooses compression gzip, which every"
        " layer has anyway; drop it from group_compression"
    ]
    assert not out.exists()


def test_a_group_called_alone_is_not_alone_packages() -> None:
    # "alone" is a group's name like any other: its compression is its own.
    both = planner.declared({"alone": ["torch"]}, ["six"], "x", {"alone": "zstd"})
    assert both.compression_of(["torch==2"]) == "zstd"
    assert both.compression_of(["six==1"]) is None


def test_a_blob_compressed_again_is_checked_against_its_descriptor(
    zstd_program: str, tmp_path: Path
) -> None:
    gz, _ = _pair(tmp_path, zstd_program)
    members = [gz.members[p] for p in GPU]
    blob = members[1].blob
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the same size, other bytes
    blob.write_bytes(bytes(data))
    with pytest.raises(PyimageError, match="does not match its descriptor's digest"):
        layer.merge(members, tmp_path / "out", settings=gz.compression.named("gzip"), into="zstd")
    assert not (tmp_path / "out").exists()
