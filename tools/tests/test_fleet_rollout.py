"""What a change costs to roll out (fleet/rollout.py, ``pyimage fleet-rollout``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from enginekit import pyimage

from pyimage.fleet import rollout
from pyimage.formats import state
from pyimage.formats.lock import FORMAT as LOCK_FORMAT
from pyimage.formats.state import FleetState, ImageState, StateLayer

AMD64 = "linux/amd64"
BASE = StateLayer("sha256:base", 50_000, "base")


def lay(name: str, size: int, *packages: str) -> StateLayer:
    return StateLayer(f"sha256:{name}", size, "app" if name.startswith("app") else "package",
                      packages)  # fmt: skip


def image(*layers: StateLayer, site: int = 0) -> ImageState:
    """An image of BASE and ``layers``; its one-layer-per-app baseline's site layer weighs ``site``
    and is named after its packages (so it changes when they do)."""
    packages = sorted(p for x in layers for p in x.packages)
    one = StateLayer(f"layer-of:{','.join(packages)}", site, "package", tuple(packages))
    app = [x for x in layers if x.kind == "app"]
    return ImageState(
        (BASE, *layers), 1000, {"one-layer-per-app": (BASE, one, *app), "heavy-list": ()}
    )


def fleet(**images: ImageState) -> FleetState:
    return FleetState("//:fleet", {(f"//apps/{n}:image", AMD64): i for n, i in images.items()})


SIX_OLD, SIX_NEW = lay("six17", 9_000, "six==1.17.0"), lay("six16", 9_500, "six==1.16.0")
NUMPY, APP_API, APP_WEB = lay("numpy", 5_000_000, "numpy"), lay("app-api", 700), lay("app-web", 900)
OLD = fleet(
    api=image(SIX_OLD, APP_API, site=100_000), web=image(NUMPY, SIX_OLD, APP_WEB, site=900_000)
)


def test_an_unchanged_fleet_costs_nothing() -> None:
    made = rollout.compare(OLD, OLD)
    for way in made.images.values():
        for one in way.values():
            assert (one.status, one.added, one.pull_image, one.pull_fleet) == ("unchanged", 0, 0, 0)
    assert made.registry_new == {"rules_pyimage": 0, "one-layer-per-app": 0, "heavy-list": 0}


def test_a_bump_pulls_the_layers_holding_the_package_and_the_registry_stores_them_once() -> None:
    new = fleet(
        api=image(SIX_NEW, APP_API, site=100_500), web=image(NUMPY, SIX_NEW, APP_WEB, site=900_500)
    )
    made = rollout.compare(OLD, new)
    api, web = (made.images["rules_pyimage"][(f"//apps/{n}:image", AMD64)] for n in ("api", "web"))
    assert api.added_digests == web.added_digests == ("sha256:six16",)
    assert (api.added, api.kept, api.dropped, api.pull_image) == (1, 2, 1, 9_500)
    assert (web.added, web.kept, web.dropped, web.pull_image) == (1, 3, 1, 9_500)
    assert api.status == "changed" and api.metadata_bytes == 1000
    assert made.registry_new["rules_pyimage"] == 9_500  # one blob, two images
    base_api = made.images["one-layer-per-app"][("//apps/api:image", AMD64)]
    assert base_api.pull_image == 100_500
    assert made.registry_new["one-layer-per-app"] == 100_500 + 900_500


def test_a_node_with_every_previous_image_pulls_only_what_none_had() -> None:
    # api takes numpy, which web already had: api's node pulls it, a node with web does not.
    new = fleet(api=image(NUMPY, SIX_OLD, APP_API), web=OLD.images[("//apps/web:image", AMD64)])
    one = rollout.compare(OLD, new).images["rules_pyimage"][("//apps/api:image", AMD64)]
    assert one.pull_image == 5_000_000 and one.pull_fleet == 0


def test_new_gone_and_renamed_images() -> None:
    new = fleet(api=OLD.images[("//apps/api:image", AMD64)], web2=image(NUMPY, APP_WEB))
    made = rollout.compare(OLD, new).images["rules_pyimage"]
    assert made[("//apps/web:image", AMD64)].status == "gone"
    assert made[("//apps/web:image", AMD64)].dropped == 4
    renamed = made[("//apps/web2:image", AMD64)]
    assert renamed.status == "new" and renamed.added == 3 and renamed.kept == 0
    assert renamed.pull_image == 50_000 + 5_000_000 + 900  # a node without it pulls it all
    assert renamed.pull_fleet == 0  # every blob was in the fleet before


def test_a_reorder_is_a_change_with_nothing_to_pull() -> None:
    new = fleet(api=image(APP_API, SIX_OLD), web=OLD.images[("//apps/web:image", AMD64)])
    one = rollout.compare(OLD, new).images["rules_pyimage"][("//apps/api:image", AMD64)]
    assert (one.status, one.added, one.pull_image) == ("changed", 0, 0)


@pytest.mark.parametrize(
    ("text", "value"),
    [("1500000", 1_500_000), ("500KB", 500_000), ("4.2MB", 4_200_000), ("2MiB", 2 << 20),
     ("1 GB", 10**9), ("3kib", 3072)],
)  # fmt: skip
def test_byte_counts(text: str, value: int) -> None:
    assert rollout.parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "-1", "1TB", "MB", "1.2.3"])
def test_what_is_not_a_byte_count(text: str) -> None:
    with pytest.raises(ValueError, match="is not a byte count"):
        rollout.parse_bytes(text)


def write(tmp_path: Path, name: str, fs: FleetState) -> Path:
    path = tmp_path / name
    state.write(path, fs)
    return path


def test_the_command_writes_json_and_markdown_and_keeps_to_budgets(tmp_path: Path) -> None:
    new = fleet(
        api=image(SIX_NEW, APP_API, site=100_500), web=OLD.images[("//apps/web:image", AMD64)]
    )
    old_path, new_path = write(tmp_path, "old.json", OLD), write(tmp_path, "new.json", new)
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    args = ["fleet-rollout", "--state", str(new_path), "--since", str(old_path)]
    r = pyimage(*args, "--json", str(out_json), "--markdown", str(out_md), "--max-pull", "10KB")
    assert r.returncode == 0, r.stderr
    assert "//apps/api:image (linux/amd64): changed; layers +1 =2 -1" in r.stdout
    doc = json.loads(out_json.read_text())
    assert doc["layerings"]["rules_pyimage"]["registry_new"] == 9_500
    assert (
        doc["layerings"]["rules_pyimage"]["images"]["//apps/api:image"][AMD64]["pull_image"]
        == 9_500
    )
    md = out_md.read_text()
    assert "| `//apps/api:image` | linux/amd64 | +1 / -1 / =2 |" in md and "web" not in md
    r = pyimage(*args, "--max-pull", "9KB")
    assert r.returncode == 1
    assert (
        "//apps/api:image (linux/amd64): a node with its previous version pulls 9,500 bytes"
        in r.stderr
    )
    r = pyimage(*args, "--max-new", "5000")
    assert (
        r.returncode == 1
        and "the registry stores 9,500 bytes new, over --max-new 5,000" in r.stderr
    )


def test_the_command_refuses_a_lock_and_another_fleets_state(tmp_path: Path) -> None:
    new_path = write(tmp_path, "new.json", OLD)
    lock = tmp_path / "fleet.lock.json"
    lock.write_text(json.dumps({"format": LOCK_FORMAT, "images": {}}))
    r = pyimage("fleet-rollout", "--state", str(new_path), "--since", str(lock))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert (
        "this is a fleet lock, not a state" in r.stderr
        and "`bazel build //:fleet.report`" in r.stderr
    )
    other = write(tmp_path, "other.json", FleetState("//x:fleet", {}))
    r = pyimage("fleet-rollout", "--state", str(new_path), "--since", str(other))
    assert r.returncode == 2 and "the state of fleet '//x:fleet', not of //:fleet" in r.stderr
    r = pyimage(
        "fleet-rollout", "--state", str(new_path), "--since", str(other), "--max-pull", "lots"
    )
    assert r.returncode == 2 and "'lots' is not a byte count" in r.stderr
