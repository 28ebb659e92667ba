"""fleet/image.py and fleet/follow.py through ``pyimage image --fleet-lock``."""

from __future__ import annotations

import json
from pathlib import Path

from enginekit import build_package, pyimage, tar_of
from fleetkit import (
    Fleet,
    image_args,
    image_plan,
    layout_file,
    member_file,
    merge_shared,
    ok,
    plan,
    slice_of,
)

from pyimage.fleet import image
from pyimage.fleet.groups import group_id


def test_images_share_the_fleets_merged_groups_byte_for_byte(fleet: Fleet, tmp_path: Path) -> None:
    shared = ["big==1", "six==1", "idna==1", "attrs==1"]
    images = {"//a:image": [*shared, "only-a==1"], "//b:image": [*shared, "only-b==1"]}
    lock = tmp_path / "fleet.lock.json"
    doc = plan(fleet, images, lock)
    merged = tmp_path / "merged"
    merge_shared(fleet, doc, images, merged)
    small = ("attrs==1", "idna==1", "six==1")
    gid = group_id(fleet.build(p) for p in small)
    assert (merged / f"{gid}.tar.gz").is_file()
    plans = {}
    for name, keys in images.items():
        # Each image is given its slice of the lock, as Bazel gives it.
        own = slice_of(lock, name, tmp_path / f"{name[2]}.slice.json")
        plans[name] = image_plan(fleet, name, keys, lock=own, merged=merged, out=tmp_path / name[2])
    # Each layer says why the lock made it, not merely that it was kept.
    lock_why = {tuple(x["packages"]): x["reason"] for x in doc["images"]["//a:image"]["layers"]}
    assert {tuple(x["packages"]): x["reason"] for x in plans["//a:image"]["layers"]} == {
        g: f"fleet lock: {why}" for g, why in lock_why.items()
    }
    digest = {n: {tuple(x["packages"]): x["digest"] for x in p["layers"]} for n, p in plans.items()}
    assert digest["//a:image"][small] == digest["//b:image"][small]
    assert digest["//a:image"][("big==1",)] == digest["//b:image"][("big==1",)]
    # The group's blob in the layouts is the fleet's merged blob.
    blob = tmp_path / "a" / "blobs" / "sha256" / digest["//a:image"][small].split(":")[1]
    assert blob.read_bytes() == (merged / f"{gid}.tar.gz").read_bytes()


def test_a_new_package_builds_before_the_lock_is_updated(fleet: Fleet, tmp_path: Path) -> None:
    pids = ["big==1", "six==1", "idna==1"]
    lock = tmp_path / "fleet.lock.json"
    doc = plan(fleet, {"//a:image": pids}, lock)
    grown = [*pids, "attrs==1"]
    merged = tmp_path / "merged"
    merge_shared(fleet, doc, {"//a:image": grown}, merged)
    out = tmp_path / "a"
    got = image_plan(fleet, "//a:image", grown, lock=lock, merged=merged, out=out)
    assert sorted(p for lay in got["layers"] for p in lay["packages"]) == sorted(grown)


def test_a_package_rebuilt_after_the_lock_gets_its_own_layer_and_says_so(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    a, _ = variants
    rebuilt = [("six==1/patched" if p == "six==1" else p) for p in a]
    lock = tmp_path / "fleet.lock.json"
    doc = plan(fleet, {"//a:image": a}, lock)
    merged = tmp_path / "merged"
    merge_shared(fleet, doc, {"//a:image": a}, merged)  # merged before the rebuild
    assert any(merged.glob("*.tar.gz")), "the lock should hold a merged group with six"
    out = tmp_path / "a"
    r = pyimage(*image_args(fleet, "//a:image", rebuilt, lock=lock, merged=merged, out=out))
    assert r.returncode == 0, r.stderr
    assert "six==1 not the bytes the fleet lock records" in r.stdout
    assert layout_file(out, "sp/six/__init__.py") == member_file(
        fleet.members["six==1/patched"], "sp/six/__init__.py"
    )


def test_with_an_updated_lock_a_rebuilt_package_is_stale_nowhere(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    a, _ = variants
    b = [("only-b==1" if p == "only-a==1" else p) for p in a]
    lock = tmp_path / "lock.json"
    plan(fleet, {"//a:image": a, "//b:image": b}, lock)
    rebuilt = [("six==1/patched" if p == "six==1" else p) for p in b]
    held = {"//a:image": a, "//b:image": rebuilt}
    update = tmp_path / "update.json"
    doc = plan(fleet, held, update, "--previous", str(lock))
    merged = tmp_path / "merged"
    merge_shared(fleet, doc, held, merged)
    out = tmp_path / "b"
    r = pyimage(*image_args(fleet, "//b:image", rebuilt, lock=update, merged=merged, out=out))
    assert r.returncode == 0, r.stderr
    assert "not the bytes" not in r.stdout
    got = json.loads(Path(f"{out}.plan.json").read_text())
    assert all(lay["reason"].startswith("fleet lock: ") for lay in got["layers"]), got


def test_a_lock_without_digests_says_so_once(fleet: Fleet, tmp_path: Path) -> None:
    pids = ["big==1", "six==1", "idna==1", "attrs==1"]
    lock = tmp_path / "fleet.lock.json"
    doc = plan(fleet, {"//a:image": pids}, lock)
    old = json.loads(json.dumps(doc))
    old["format"] = "rules_pyimage.fleet-lock/v1"
    del old["packages"]
    for entry in old["images"].values():
        for lay in entry["layers"]:
            del lay["diff_ids"]
            lay.pop("group", None)
    lock.write_text(json.dumps(old))
    r = pyimage(*image_args(fleet, "//a:image", pids, lock=lock, merged=None, out=tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("pyimage: note:") == 1 and "records no package digests" in r.stdout
    assert "rules_pyimage.fleet-lock/v1" in r.stdout and "`.update` migrates it" in r.stdout
    # Its layout is followed as it is: every layer of the old lock.
    got = json.loads(Path(f"{tmp_path / 'a'}.plan.json").read_text())
    assert [x["packages"] for x in got["layers"]] == [
        x["packages"] for x in old["images"]["//a:image"]["layers"]
    ]


def test_an_image_not_in_the_lock_is_planned_alone_and_says_so(
    fleet: Fleet, tmp_path: Path
) -> None:
    lock = tmp_path / "lock.json"
    plan(fleet, {"//a:image": ["six==1"]}, lock)
    r = ok(
        *image_args(fleet, "//new:image", ["six==1"], lock=lock, merged=None, out=tmp_path / "n")
    )
    assert "//new:image is not in the fleet lock; planned alone" in r.stdout


def test_an_image_locked_for_another_platform_follows_none_of_it_and_says_so(
    fleet: Fleet, tmp_path: Path
) -> None:
    pids = ["big==1", "six==1", "idna==1", "attrs==1"]
    lock = tmp_path / "lock.json"
    images = {"//a:image": fleet.entry(pids, platform="linux/arm64")}
    ok("fleet-plan", "--inputs", str(fleet.inputs(images)), "--out", str(lock))
    out = tmp_path / "a"
    r = ok(*image_args(fleet, "//a:image", pids, lock=lock, merged=None, out=out))
    assert "the fleet lock has //a:image for linux/arm64, not linux/amd64" in r.stdout
    got = json.loads(Path(f"{out}.plan.json").read_text())
    assert not any(lay["reason"].startswith("fleet lock: ") for lay in got["layers"]), got


def test_an_image_takes_descriptors_and_blobs_only(fleet: Fleet, tmp_path: Path) -> None:
    # The rules pass DESC BLOB: a merged layer then comes from the blobs
    # (inflated, checked), and a third path (the retired form with the tar)
    # is refused in one line before anything is written.
    pids = ["big==1", "six==1", "idna==1", "attrs==1"]
    out = tmp_path / "blobs-only"
    args = ["image", "--out", str(out), "--plan-out", f"{out}.plan.json", "--max-layers", "20"]
    ok(*args, *fleet.package_args(pids))
    got = json.loads(Path(f"{out}.plan.json").read_text())
    assert any(len(lay["packages"]) > 1 for lay in got["layers"]), "a merge ran"
    m = fleet.members["six==1"]
    (tmp_path / "six.tar").write_bytes(tar_of(m))
    r = pyimage("image", "--out", str(tmp_path / "x"), "--plan-out", str(tmp_path / "x.json"),
                "--package", str(m.descriptor_path), str(tmp_path / "six.tar"),
                str(m.blob))  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "unrecognized arguments" in r.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.json").exists()


def _wheels(tmp_path: Path, platform: str, wheels: dict[str, str]) -> list[image.layer.Member]:
    """Packages with a WHEEL of the given tag each (and one module of some size)."""
    site = "opt/pyimage/site-packages"
    out = []
    for name, tag in wheels.items():
        dist = name.replace("==", "-")
        files = {
            f"{site}/{dist}.dist-info/WHEEL": f"Tag: {tag}\n".encode(),
            f"{site}/{dist.split('-')[0]}.py": name.encode() * (len(name) * 3000),
        }
        out.append(build_package(tmp_path / platform.replace("/", "_") / name, name, files))
    return out


def _index_layers(
    tmp_path: Path, packages: dict[str, list[image.layer.Member]], max_layers: int
) -> dict[str, list[dict[str, object]]]:
    """Each platform's plan report layers, each image planned with the others as siblings."""
    out = {}
    for platform, members in packages.items():
        siblings = [
            image.Sibling(
                f"//app:image.{other.replace('/', '_')}",
                other,
                {m.descriptor.packages[0]: m.descriptor for m in theirs},
            )
            for other, theirs in packages.items()
            if other != platform
        ]
        name = f"//app:image.{platform.replace('/', '_')}"
        spec = image.ImageSpec(name, max_layers, members, platform=platform, siblings=siblings)
        where = tmp_path / f"out-{platform.replace('/', '_')}-{max_layers}"
        out[platform] = image.build(spec, where, where.with_suffix(".json"))["layers"]  # type: ignore[assignment]
    return out


def test_an_index_image_plans_its_pure_packages_apart_and_names_its_siblings(
    tmp_path: Path,
) -> None:
    amd = {
        "six==1": "py3-none-any",
        "idna==2": "py3-none-any",
        "yaml==3": "cp311-cp311-manylinux_2_17_x86_64",
    }
    arm = dict(amd, **{"yaml==3": "cp311-cp311-manylinux_2_17_aarch64"})
    packages = {
        "linux/amd64": _wheels(tmp_path, "linux/amd64", amd),
        "linux/arm64": _wheels(tmp_path, "linux/arm64", arm),
    }
    # six and idna are the same bytes on both platforms, yaml is not.
    amd_arm = zip(packages["linux/amd64"], packages["linux/arm64"], strict=True)
    same = [a.descriptor.diff_id == b.descriptor.diff_id for a, b in amd_arm]
    assert same == [True, True, False]
    # Alone, the three small packages share one layer.
    alone = image.build(
        image.ImageSpec("//app:image", 10, packages["linux/amd64"]),
        tmp_path / "alone",
        tmp_path / "alone.json",
    )["layers"]
    assert [lay["packages"] for lay in alone] == [["idna==2", "six==1", "yaml==3"]]  # type: ignore[index]
    indexed = _index_layers(tmp_path, packages, 10)
    for platform, layers in indexed.items():
        assert sorted(lay["packages"] for lay in layers) == [["idna==2", "six==1"], ["yaml==3"]]
        (pure,) = [lay for lay in layers if lay["packages"] == ["idna==2", "six==1"]]
        assert "//app:image.linux_amd64, //app:image.linux_arm64" in str(pure["reason"]), platform
    digests = {
        p: {tuple(lay["packages"]): lay["digest"] for lay in ls} for p, ls in indexed.items()
    }
    assert (
        digests["linux/amd64"][("idna==2", "six==1")]
        == digests["linux/arm64"][("idna==2", "six==1")]
    )


def test_index_images_share_pure_layers_under_a_tight_cap_and_uneven_purity(
    tmp_path: Path,
) -> None:
    # Eight pure packages, six native ones; `fast` is pure on arm64 (its
    # py3-none-any fallback) and native on amd64. Each platform's action
    # plans the same fleet of the two images, so the layers both hold are
    # the same members and bytes, whatever the cap makes of them.
    pure = {f"p{k}==1": "py3-none-any" for k in range(8)}
    amd = pure | {f"n{k}==1": "cp311-cp311-manylinux_2_17_x86_64" for k in range(6)}
    arm = pure | {f"n{k}==1": "cp311-cp311-manylinux_2_17_aarch64" for k in range(6)}
    amd["fast==1"] = "cp311-cp311-manylinux_2_17_x86_64"
    arm["fast==1"] = "py3-none-any"
    packages = {
        "linux/amd64": _wheels(tmp_path, "linux/amd64", amd),
        "linux/arm64": _wheels(tmp_path, "linux/arm64", arm),
    }
    for cap in (6, 9, 60):
        indexed = _index_layers(tmp_path, packages, cap)
        by = {p: {tuple(lay["packages"]): lay["digest"] for lay in ls} for p, ls in indexed.items()}
        assert all(len(ls) <= cap - 1 for ls in indexed.values()), cap
        both = set(by["linux/amd64"]) & set(by["linux/arm64"])
        pure_layers = [members for members in both if all(m.startswith("p") for m in members)]
        assert pure_layers, (cap, by)
        for members in pure_layers:
            assert by["linux/amd64"][members] == by["linux/arm64"][members], (cap, members)
        # No layer of one platform mixes a pure package into another's layer
        # of different members: the pure packages' layers are the same sets.
        pure_of = {
            p: sorted(m for m in ms if all(x.startswith("p") for x in m)) for p, ms in by.items()
        }
        assert pure_of["linux/amd64"] == pure_of["linux/arm64"], (cap, by)
