"""The fleet state document (formats/state.py): written one way, read strictly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyimage.errors import PyimageError
from pyimage.formats import state
from pyimage.formats.lock import FORMAT as LOCK_FORMAT

FIX = "give the fleet's state"


def sample() -> state.FleetState:
    base = state.StateLayer("sha256:" + "b" * 64, 100, "base")
    pkg = state.StateLayer("sha256:" + "p" * 64, 20, "package", ("six==1.17.0",))
    app = state.StateLayer("sha256:" + "a" * 64, 5, "app")
    merged = state.StateLayer("layer-of:abc", 30, "package", ("a==1", "b==2"), exact=False)
    image = state.ImageState((base, pkg, app), 900, {"one-layer-per-app": (base, merged, app)})
    return state.FleetState("//:fleet", {("//apps/api:image", "linux/amd64"): image})


def test_a_state_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "fleet.state.json"
    state.write(path, sample())
    doc = json.loads(path.read_text())
    assert doc["format"] == state.FORMAT and doc["fleet"] == "//:fleet"
    assert list(doc["images"]["//apps/api:image"]) == ["linux/amd64"]
    assert state.read(path, "//:fleet", FIX) == sample()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"format": LOCK_FORMAT, "images": {}}, "this is a fleet lock, not a state"),
        ({"format": "rules_pyimage.fleet-state/v9", "fleet": "//:fleet", "images": {}},
         "format 'rules_pyimage.fleet-state/v9' is not a fleet state"),
        ({"images": {}}, "format none is not a fleet state"),
        ({"format": state.FORMAT, "fleet": "//other:fleet", "images": {}},
         "it is the state of fleet '//other:fleet', not of //:fleet"),
        ({"format": state.FORMAT, "fleet": "//:fleet", "images": []}, "'images' is not an object"),
        ({"format": state.FORMAT, "fleet": "//:fleet",
          "images": {"//a:i": {"linux/amd64": {"layers": [{"digest": "x", "size": -1,
                                                          "kind": "base"}],
                                               "metadata_bytes": 1}}}},
         "a layer is not"),
        ({"format": state.FORMAT, "fleet": "//:fleet",
          "images": {"//a:i": {"linux/amd64": {"layers": [], "metadata_bytes": True}}}},
         "'metadata_bytes' is not a number"),
    ],
)  # fmt: skip
def test_what_is_not_a_state_of_this_fleet_is_refused_in_one_line(
    tmp_path: Path, doc: dict, message: str
) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(PyimageError) as err:
        state.read(path, "//:fleet", FIX)
    text = str(err.value)
    assert message in text and str(path) in text and text.endswith(FIX) and "\n" not in text


def test_a_missing_state_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(PyimageError, match=f"missing; {FIX}"):
        state.read(tmp_path / "nope.json", "//:fleet", FIX)
