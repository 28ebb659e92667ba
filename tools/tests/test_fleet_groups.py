"""fleet/groups.py through ``pyimage fleet-merge-group`` and ``image --fleet-group``."""

from __future__ import annotations

from pathlib import Path

import pytest
from enginekit import pyimage
from fleetkit import (
    Fleet,
    groups_of,
    image_args,
    layout_file,
    member_file,
    merge_group,
    merge_shared,
    plan,
)

from pyimage.engine import layer
from pyimage.fleet.groups import group_id, read_group


def test_a_shared_layer_is_merged_from_the_build_the_lock_records_among_several(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    fleet.package("idna==1", variant="patched")
    candidates = ["six==1", "six==1/patched", "idna==1/patched", "idna==1"]
    out = tmp_path / "shared"
    out.mkdir()
    # Each pairing of the two builds of each id is another layer; each merge
    # takes the builds its group id names, whatever the order given.
    for six, idna in [("six==1", "idna==1"), ("six==1/patched", "idna==1")]:
        gid = group_id([fleet.build(six), fleet.build(idna)])
        merge_group(fleet, gid, candidates, out)
        member = layer.load_member(out / f"{gid}.json", out / f"{gid}.tar.gz")
        want = layer.merge(
            [fleet.members[six], fleet.members[idna]], tmp_path / "w.tar.gz", tmp_path / "w.json"
        )
        assert member.descriptor.digest == want.digest
        assert member.blob.read_bytes() == (tmp_path / "w.tar.gz").read_bytes()
        # The descriptor says which builds it holds.
        assert member.descriptor.members == {
            "idna==1": fleet.build(idna)[1],
            "six==1": fleet.build(six)[1],
        }


@pytest.mark.parametrize("case", ["another build of the same ids", "other members"])
def test_an_image_refuses_the_files_of_another_group(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path, case: str
) -> None:
    # `image --fleet-group GID DESC BLOB` given files merged for another
    # group: the descriptor records the builds it was merged from, which must
    # hash to GID. Else a cp312 .so could ride into a cp311 image, or a package
    # the plan report lists be missing. Refused in one line; nothing written.
    a, b = variants
    lock = tmp_path / "fleet.lock.json"
    doc = plan(fleet, {"//a:image": a, "//b:image": b}, lock)
    merged = tmp_path / "merged"
    gids = merge_shared(fleet, doc, {"//a:image": a, "//b:image": b}, merged)
    mine_groups = groups_of(doc, "//a:image")
    (mine,) = [g for g, members in mine_groups.items() if "six==1" in members]
    if case == "another build of the same ids":
        # The same ids, with the patched six in place of the released one.
        keys = ["six==1/patched" if p == "six==1" else p for p in mine_groups[mine]]
    else:
        keys = ["big==1", "idna==1"]
        assert sorted(keys) != mine_groups[mine]
    other = group_id(fleet.build(k) for k in keys)
    merge_group(fleet, other, keys, merged)
    assert mine in gids and other != mine
    args = image_args(fleet, "//a:image", a, lock=lock, merged=None, out=tmp_path / "a")
    args += ["--fleet-group", mine, str(merged / f"{other}.json"), str(merged / f"{other}.tar.gz")]
    r = pyimage(*args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert f"shared layer {mine}" in lines[0] and "other members or other builds" in lines[0]
    assert not (tmp_path / "a").exists() and not (tmp_path / "a.plan.json").exists()


def test_a_shared_layer_no_build_matches_is_a_marker_and_images_merge_their_own(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    # The lock was written for the released six; only the patched one is built now
    # (a bump before `.update`: the lock's label gives the new build).
    a, _ = variants
    lock = tmp_path / "fleet.lock.json"
    doc = plan(fleet, {"//a:image": a}, lock)
    (gid,) = [g for g, members in groups_of(doc).items() if "six==1" in members]
    rebuilt = [("six==1/patched" if p == "six==1" else p) for p in a]
    out = tmp_path / "merged"
    out.mkdir()
    keys = [k for k in rebuilt if k.split("/")[0] in groups_of(doc)[gid]]
    r = merge_group(fleet, gid, keys, out)
    assert "no build of" in r.stdout and gid in r.stdout, r.stdout
    assert read_group(gid, out / f"{gid}.json") is None
    # The image given that marker still holds its own six, in a layer of its own making.
    layout = tmp_path / "a"
    r = pyimage(*image_args(fleet, "//a:image", rebuilt, lock=lock, merged=out, out=layout))
    assert r.returncode == 0, r.stderr
    assert layout_file(layout, "sp/six/__init__.py") == member_file(
        fleet.members["six==1/patched"], "sp/six/__init__.py"
    )
