"""A fleet's image depends only on what it holds: its binary, its packages, its shared
layers' members and its own slice of the lock; never another image.

Tried as a monorepo's CI sees it: another app's BUILD file broken, a bump of a
package only web holds with the lock's `.update`, a lock hand-edited into
conflict markers, a new fleet with no lock yet. Each test puts back what it
changes in the module's scratch copy of the e2e workspace.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from e2ekit import (
    E2E,
    PACKAGES_ANNOTATION,
    bazel,
    bazel_may_fail,
    copy_outputs,
    finish,
    harness,
    read_manifest,
)
from harnesslib import executed_counts

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chroot)")

OTHERS = ("api", "worker")  # the apps a bump of a package only web holds must not touch
#: A package only web holds, and another release of it (a pure-Python wheel on PyPI).
WEB_ONLY, WEB_ONLY_BUMPED = "inflection==0.5.1", "inflection==0.5.0"


@contextmanager
def edited(ws: Path, *names: str) -> Iterator[None]:
    """Put the workspace's files ``names`` back as they were when the block ends."""
    saved = {n: (ws / n).read_bytes() if (ws / n).exists() else None for n in names}
    try:
        yield
    finally:
        for name, data in saved.items():
            if data is None:
                (ws / name).unlink(missing_ok=True)
            else:
                (ws / name).write_bytes(data)


def actions_of(ws: Path, target: str, *mnemonics: str) -> dict[str, list[str]]:
    """Per mnemonic, the owners' labels of its actions in the target's graph (one aquery)."""
    pattern = "|".join(mnemonics)
    r = bazel(ws, "aquery", f'mnemonic("{pattern}", deps({target}))', "--output=jsonproto")
    aquery = json.loads(r.stdout or "{}")
    owners = {t["id"]: t["label"] for t in aquery.get("targets", [])}
    found: dict[str, list[str]] = {m: [] for m in mnemonics}
    for action in aquery.get("actions", []):
        found[action["mnemonic"]].append(owners[action["targetId"]])
    return {m: sorted(labels) for m, labels in found.items()}


def group_of(label: str) -> str:
    """The group id of a fleet group target (``@@...//f/<fleet>/g/<id>:group``)."""
    return label.rsplit("/g/", 1)[1].split(":", maxsplit=1)[0]


def query(ws: Path, expression: str) -> list[str]:
    """The labels ``bazel query`` gives. With --keep_going: the e2e workspace's module graph
    holds empty stand-in modules (zlib, ...) that deps() would otherwise trip on, off any
    configured path (exit 3: partial results, here the whole of what is reachable)."""
    r = bazel_may_fail(ws, "query", "--keep_going", expression, "--output=label")
    assert r.returncode in (0, 3), r.stderr[-3000:]
    return r.stdout.split()


def fingerprint(ws: Path, target: str) -> dict[str, object]:
    """What target-determination tools look at: every file in the target's graph (sources,
    BUILD and .bzl files) by content, and every action's key."""
    output_base = Path(bazel(ws, "info", "output_base").stdout.strip())
    files: dict[str, str] = {}
    for label in query(ws, f'kind("source file", deps({target})) + buildfiles(deps({target}))'):
        path = label_path(ws, output_base, label)
        if path.is_file():
            files[label] = hashlib.sha256(path.read_bytes()).hexdigest()
    actions = json.loads(bazel(ws, "aquery", f"deps({target})", "--output=jsonproto").stdout)
    keys = sorted(a["actionKey"] for a in actions.get("actions", []))
    return {"files": files, "action_keys": keys}


def label_path(ws: Path, output_base: Path, label: str) -> Path:
    """The file a source-file label names, in the workspace or in an external repository."""
    repo, _, rest = label.lstrip("@").partition("//")
    package, _, name = rest.partition(":")
    root = ws if not repo else output_base / "external" / repo
    return root / package / name


def test_an_image_holds_its_own_package_actions_and_no_other_image(scratch: Path) -> None:
    lock = json.loads((scratch / "fleet.lock.json").read_text())["images"]
    counts = {}
    for app in (*OTHERS, "web"):
        target = f"//apps/{app}:image.layers"
        layers = lock[f"//apps/{app}:image"]["layers"]
        got = actions_of(scratch, target, "PyImagePackageLayer", "PyImageFleetMerge")
        counts[app] = len(got["PyImagePackageLayer"])
        held = {p for lay in layers for p in lay["packages"]}
        assert counts[app] == len(held), (app, counts[app], len(held))
        # Its shared layers' merges, each once, and no other group's.
        merges = [group_of(m) for m in got["PyImageFleetMerge"]]
        assert merges == sorted(lay["group"] for lay in layers if "group" in lay), (app, merges)
    print("package actions in each image's graph:", counts)
    deps = query(scratch, "deps(//apps/api:image.layers)")
    assert deps and not [d for d in deps if d.startswith(("//apps/web", "//apps/worker"))], deps


def test_an_image_builds_when_another_app_of_its_fleet_is_broken(scratch: Path) -> None:
    # web's team adds a dependency that does not exist: web fails, api builds.
    build = scratch / "apps" / "web" / "BUILD.bazel"
    with edited(scratch, "apps/web/BUILD.bazel"):
        text = build.read_text()
        broken = text.replace(
            'deps = ["//apps:report"]', 'deps = ["//apps:report", "//no/such:dep"]'
        )
        assert broken != text
        build.write_text(broken)
        web = bazel_may_fail(scratch, "build", "//apps/web:image.layers")
        assert web.returncode != 0 and "no/such" in web.stderr, web.stderr[-2000:]
        bazel(scratch, "build", "//apps/api:image.layers", "//apps/worker:image.layers")


def test_a_bump_only_web_holds_leaves_api_and_worker_as_they_were(scratch: Path) -> None:
    # The change CI's target determination sees: requirements bumped AND the
    # lock rewritten by `.update`. api's and worker's graphs (files by
    # content, action keys) are unchanged, and no action of theirs runs again.
    targets = [f"//apps/{app}:image.layers" for app in OTHERS]
    bazel(scratch, "build", *targets)
    before = {t: fingerprint(scratch, t) for t in targets}
    with edited(scratch, "requirements_lock.txt", "fleet.lock.json"):
        reqs = scratch / "requirements_lock.txt"
        assert f"{WEB_ONLY}\n" in reqs.read_text()
        reqs.write_text(reqs.read_text().replace(f"{WEB_ONLY}\n", f"{WEB_ONLY_BUMPED}\n"))
        old_lock = (scratch / "fleet.lock.json").read_text()
        bazel(scratch, "run", "//:fleet.update")
        new_lock = (scratch / "fleet.lock.json").read_text()
        assert WEB_ONLY_BUMPED in new_lock and new_lock != old_lock
        after = {t: fingerprint(scratch, t) for t in targets}
        log = scratch / "others.json"
        bazel(scratch, "build", f"--execution_log_json_file={log}", *targets)
        rerun = executed_counts(log)
        bazel(scratch, "test", "//:fleet_test")
    for t in targets:
        changed = sorted(
            k
            for k in before[t]["files"] | after[t]["files"]  # type: ignore[operator]
            if before[t]["files"].get(k) != after[t]["files"].get(k)  # type: ignore[union-attr]
        )
        assert changed == [], (t, changed)
        assert before[t]["action_keys"] == after[t]["action_keys"], t
        print(
            f"{t}: {len(before[t]['files'])} files and"  # type: ignore[arg-type]
            f" {len(before[t]['action_keys'])} action keys unchanged"
        )  # type: ignore[arg-type]
    assert rerun == {}, rerun


def test_a_lock_that_does_not_parse_breaks_no_image_and_update_repairs_it(scratch: Path) -> None:
    lock = scratch / "fleet.lock.json"
    with edited(scratch, "fleet.lock.json"):
        text = lock.read_text()
        lock.write_text(text.replace('"images": {', '"images": {\n<<<<<<< HEAD', 1))
        r = bazel(scratch, "build", "//apps/api:image.layers")
        warning = [line for line in r.stderr.splitlines() if "fleet lock" in line]
        assert len(warning) == 1 and "cannot be read" in warning[0], r.stderr[-3000:]
        assert "fleet.lock.json" in warning[0] and "bazel run //:fleet.update" in warning[0]
        test = bazel_may_fail(scratch, "test", "//:fleet_test", "--test_output=errors")
        assert test.returncode != 0
        assert "does not parse as a fleet lock" in test.stdout + test.stderr
        bazel(scratch, "run", "//:fleet.update")
        assert json.loads(lock.read_text())["format"] == "rules_pyimage.fleet-lock/v7"
        bazel(scratch, "test", "//:fleet_test")


def test_a_new_fleet_builds_without_a_lock_and_update_writes_it(scratch: Path) -> None:
    lock = scratch / "fleet.lock.json"
    with edited(scratch, "fleet.lock.json"):
        lock.unlink()
        bazel(scratch, "build", "//apps/api:image.layers")
        plan = json.loads(
            (scratch / "bazel-bin" / "apps" / "api" / "image.layers.plan.json").read_text()
        )
        assert plan["fleet_lock"] is False
        test = bazel_may_fail(scratch, "test", "//:fleet_test", "--test_output=errors")
        assert test.returncode != 0
        out = test.stdout + test.stderr
        assert "there is no lock file yet" in out and "bazel run //:fleet.update" in out
        bazel(scratch, "run", "//:fleet.update")
        assert lock.read_text() == (E2E / "fleet.lock.json").read_text()
        bazel(scratch, "test", "//:fleet_test")


def groups_of_lock(lock: Path) -> set[str]:
    """The shared layers (group ids) of a fleet lock."""
    return {
        lay["group"]
        for entry in json.loads(lock.read_text())["images"].values()
        for lay in entry["layers"]
        if "group" in lay
    }


def test_the_whole_workspace_merges_each_shared_layer_once(scratch: Path) -> None:
    # `bazel build //...`'s graph: one merge action per shared layer of each
    # fleet of one platform, whatever the number of images holding it (the
    # execution log of a build of three images says the same: test_e2e's bump
    # test). A shared layer of an index's fleet (//apps/multiarch: certifi and
    # idna, the same bytes on both platforms) is merged in each platform's
    # configuration and, for the fleet's report, in the build's own.
    merges = Counter(
        group_of(m) for m in actions_of(scratch, "//...", "PyImageFleetMerge")["PyImageFleetMerge"]
    )
    # (//apps/greet's is a declared group of its own compression, zstd.)
    locks = ("fleet.lock.json", "apps/variants/fleet.lock.json", "apps/greet/fleet.lock.json")
    one_platform = {g for lock in locks for g in groups_of_lock(scratch / lock)}
    index = groups_of_lock(scratch / "apps/multiarch/fleet.lock.json")
    print(f"merge actions per shared layer: {dict(merges)}")
    assert index and not index & one_platform
    assert set(merges) == one_platform | index
    assert {merges[g] for g in one_platform} == {1}, merges
    assert {merges[g] for g in index} == {3}, merges


def finished_fleet(ws: Path, dest: Path) -> dict[str, Path]:
    """The fleet's images built now, each finished as oci_image would (umoci)."""
    bazel(ws, "build", *(f"//apps/{app}:image.layers" for app in (*OTHERS, "web")))
    out = {}
    for app in (*OTHERS, "web"):
        built = copy_outputs(ws, app, dest)
        out[app] = finish(built, dest / f"{app}-image")
    return out


def pushed(images: dict[str, Path], registry: Path) -> dict[str, object]:
    """Push ``images`` to the registry whose store is kept in ``registry``; what it uploaded."""
    args: list[str] = ["--keep", str(registry)]
    for app, layout in sorted(images.items()):
        args += ["--push", str(layout), app, f"e2e/{app}"]
    return json.loads(harness("registry.py", *args).stdout)


def test_a_rollout_report_names_the_new_layers_and_the_registry_receives_them(
    scratch: Path, tmp_path: Path
) -> None:
    # The state CI keeps of main, then the change: a bump of a package only web holds, with
    # `.update`. The report says what nodes pull and the registry stores; pushing the old
    # images and then the new ones to a registry shows the same blobs arrive.
    bazel(scratch, "build", "//:fleet.report")
    shutil.copyfile(scratch / "bazel-bin" / "fleet.state.json", scratch / "main.state.json")
    before = finished_fleet(scratch, tmp_path / "before")
    with edited(scratch, "requirements_lock.txt", "fleet.lock.json", "main.state.json"):
        reqs = scratch / "requirements_lock.txt"
        reqs.write_text(reqs.read_text().replace(f"{WEB_ONLY}\n", f"{WEB_ONLY_BUMPED}\n"))
        bazel(scratch, "run", "//:fleet.update")
        r = bazel(scratch, "run", "//:fleet.report", "--", "--since", "main.state.json",
                  "--json", "rollout.json", "--markdown", "rollout.md")  # fmt: skip
        rollout = json.loads((scratch / "rollout.json").read_text())
        print(r.stdout[-3000:], (scratch / "rollout.md").read_text(), sep="\n")
        after = finished_fleet(scratch, tmp_path / "after")
        new_layers = {
            app: {
                lay["digest"]: lay.get("annotations", {}).get(PACKAGES_ANNOTATION, "")
                for lay in read_manifest(after[app])["layers"]
            }
            for app in after
        }
        (scratch / "rollout.json").unlink()
        (scratch / "rollout.md").unlink()
    ours = rollout["layerings"]["rules_pyimage"]
    images = {app: ours["images"][f"//apps/{app}:image"]["linux/amd64"] for app in after}
    # Exactly the layers holding the bumped package are new, whole; nothing for api and worker.
    for app in OTHERS:
        assert images[app]["added_digests"] == [] and images[app]["status"] == "unchanged"
    web = images["web"]
    holding = sorted(
        d for d, held in new_layers["web"].items() if WEB_ONLY_BUMPED in held.split(",")
    )
    assert len(holding) == 1 and sorted(web["added_digests"]) == holding, (web, holding)
    # What the registry receives when the new images follow the old ones: those blobs, and the
    # new config and manifest (counted apart).
    registry = tmp_path / "registry"
    pushed(before, registry)
    uploads = pushed(after, registry)["blobs"]
    layers = {d for app in after for d in new_layers[app]}
    received = {d: b["size"] for d, b in uploads.items() if b["uploads"] and d in layers}
    print(
        f"the registry received {received}; the report: {web['added_digests']},"
        f" {ours['registry_new']} bytes new, web's node pulls {web['pull_image']}"
    )
    assert sorted(received) == holding
    assert sum(received.values()) == ours["registry_new"] == web["pull_image"]
    baseline = rollout["layerings"]["one-layer-per-app"]
    assert baseline["registry_new"] > 10 * ours["registry_new"]
