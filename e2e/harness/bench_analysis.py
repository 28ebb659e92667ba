#!/usr/bin/env python3
"""What building one image of a fleet analyses, as the fleet grows: before and after.

Usage (root; runs the offline Bazel of tools/offline/bazel, one at a time)::

    python3 e2e/harness/bench_analysis.py [--sizes 5,20,50] [--repeat 5] [--before REV]

A benchmark, not a test: it prints numbers. It generates one workspace per
side with three fleets, of 5, 20 and 50 apps (``//n5``, ``//n20``, ``//n50``).
App ``k`` of every fleet is the same: a ``py_binary`` of a one-line main and
the same seeded draw of 4 to 40 of the e2e packages (e2e/apps/web/packages.bzl,
with what pip.parse's targets bring along), in a ``py_image`` with
``fleet = "//n<N>:fleet"`` on the e2e python base. So ``//n<N>/app0:image``
is one image whose own graph does not change with N: only the fleet around it
grows.

- ``after``: this checkout's working tree (the fleet declared in MODULE.bazel,
  each image reading its slice of the lock).
- ``before``: the rules as of ``--before`` (default cb2e8c2, the last commit
  before the module extension: every image depended on the fleet target,
  which depended on every image), unpacked with ``git archive`` into the
  scratch folder and run with its own tools/offline/bazel; its fleet's BUILD
  file loads the lock's ``.bzl`` form, as that version's guide says.

For each side, in an output base of its own (always expunged): fetch, then
``bazel run //n<N>:fleet.update`` for every size (a real lock: shared layers
and all), then ``--repeat`` rounds of ``bazel build --nobuild
//n<N>/app0:image`` for every size, each with a new ``--define`` so Bazel
discards its analysis cache and analyses again (packages stay loaded). Per
run: Bazel's "targets configured" and the analysis phase's time from its JSON
profile (the "Load and analyze dependencies" phase marker to the next).
Medians of ``--repeat``; the table shows each size beside the smallest, and
after beside before, with the shared layers the lock gives app0 and the
fleet's targets in its graph that are not app0's (``bazel query``).

About 4 minutes on a 2-CPU machine once pip's wheels are cached (two pip
fetches, two builds of every package the fleets hold). Prints a table and a
JSON dump to stdout, progress to stderr; exit 0, or 2 with one line on
failure.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

HARNESS = Path(__file__).resolve().parent
sys.path.insert(0, str(HARNESS))
import base_image  # noqa: E402
from bench_build import Bazel, elapsed_seconds  # noqa: E402
from bench_remote_bytes import CACHE  # noqa: E402
from harnesslib import REPO, HarnessError, fleet_app_build, main_wrapper, progress  # noqa: E402

E2E = REPO / "e2e"
BEFORE = "cb2e8c2"
SIDES = ("before", "after")
CONFIGURED = re.compile(r"\((\d+) packages? loaded, (\d+) targets? configured\)")
ANALYSIS_PHASE = "Load and analyze dependencies"


# -- pure helpers --------------------------------------------------------------
@dataclass
class Analysis:
    """One ``bazel build --nobuild`` of one image."""

    size: int
    configured: int
    analysis_s: float  # the analysis phase, from the profile
    elapsed_s: float  # Bazel's "Elapsed time"


def e2e_packages(text: str) -> list[str]:
    """The ``@pypi//name`` labels of e2e/apps/web/packages.bzl's text, in order."""
    found = re.findall(r'"(@pypi//[A-Za-z0-9_]+)"', text)
    if len(found) < 40:
        raise HarnessError(f"e2e/apps/web/packages.bzl names {len(found)} packages; expected 40+")
    return found


def app_packages(packages: list[str], k: int) -> list[str]:
    """App ``k``'s packages: a draw seeded by ``k`` alone, so equal in every fleet."""
    rng = random.Random(f"bench_analysis app {k}")
    return sorted(rng.sample(packages, rng.randint(4, 40)))


def configured_targets(stderr: str) -> int:
    """Bazel's ``(N packages loaded, M targets configured)`` count M (the last)."""
    found = CONFIGURED.findall(stderr)
    if not found:
        raise HarnessError("Bazel printed no 'targets configured' count")
    return int(found[-1][1])


def analysis_seconds(profile: dict[str, object]) -> float:
    """The analysis phase's length in a Bazel JSON trace profile, in seconds.

    From its phase marker to the next one, or to the profile's last event.
    """
    events = [e for e in profile.get("traceEvents", []) if isinstance(e, dict) and "ts" in e]
    markers = sorted(
        (e for e in events if e.get("cat") == "build phase marker"), key=lambda e: e["ts"]
    )
    starts = [i for i, e in enumerate(markers) if e.get("name") == ANALYSIS_PHASE]
    if not starts:
        names = sorted({str(e.get("name")) for e in markers})
        raise HarnessError(f"the profile has no {ANALYSIS_PHASE!r} phase (it has {names})")
    i = starts[0]
    if i + 1 < len(markers):
        end = markers[i + 1]["ts"]
    else:
        end = max(e["ts"] + e.get("dur", 0) for e in events)
    return (end - markers[i]["ts"]) / 1e6


def module_text(rules: Path, sizes: list[int], declare_fleets: bool) -> str:
    """MODULE.bazel of a side's workspace: e2e's pip hub and base, and the fleets."""
    text = f'''module(name = "bench_analysis")

bazel_dep(name = "rules_pyimage")
local_path_override(module_name = "rules_pyimage", path = "{rules}")

bazel_dep(name = "rules_python", version = "0.22.1")

pip = use_extension("@rules_python//python/extensions:pip.bzl", "pip")
pip.parse(
    name = "pypi",
    incompatible_generate_aliases = True,
    python_interpreter = "python3.11",
    requirements_lock = "//:requirements_lock.txt",
)
use_repo(pip, "pypi")

local_oci_layout = use_repo_rule("//:repositories.bzl", "local_oci_layout")
local_oci_layout(name = "base_python", kind = "python")
'''
    if declare_fleets:
        text += '\npyimage = use_extension("@rules_pyimage//py:extensions.bzl", "pyimage")\n'
        for n in sizes:
            lock = f"//n{n}:fleet.lock.json"
            text += f'pyimage.fleet(fleet = "//n{n}:fleet", hubs = ["@pypi"], lock = "{lock}")\n'
    return text


def fleet_build(n: int, shared_layers_bzl: bool) -> str:
    """The fleet's BUILD file; the ``before`` form loads the lock's ``.bzl`` form once it exists."""
    images = "".join(f'        "//n{n}/app{k}:image",\n' for k in range(n))
    load = 'load(":fleet.lock.bzl", "SHARED_LAYERS")\n' if shared_layers_bzl else ""
    shared = "    shared_layers = SHARED_LAYERS,\n" if shared_layers_bzl else ""
    return (
        f'load("@rules_pyimage//oci:defs.bzl", "py_image_fleet")\n{load}\n'
        f'py_image_fleet(\n    name = "fleet",\n    images = [\n{images}    ],\n{shared})\n'
    )


def app_build(n: int, k: int, packages: list[str]) -> str:
    """An app's BUILD file: its binary and its image in fleet ``//n<n>``."""
    return fleet_app_build(f"app{k}", packages, f"//n{n}:fleet")


def shared_layers(lock: dict[str, object], image: str) -> int:
    """How many layers of several packages (the fleet's shared layers) ``image`` holds."""
    images = lock.get("images")
    entry = images.get(image) if isinstance(images, dict) else None
    if not isinstance(entry, dict):
        raise HarnessError(f"the fleet lock has no image {image}")
    return sum(1 for lay in entry.get("layers", []) if len(lay.get("packages", [])) > 1)


def median_of(runs: list[Analysis]) -> dict[str, float]:
    """Median configured targets, analysis and elapsed seconds of a size's runs."""
    return {
        "configured": statistics.median(r.configured for r in runs),
        "analysis_s": round(statistics.median(r.analysis_s for r in runs), 3),
        "elapsed_s": round(statistics.median(r.elapsed_s for r in runs), 3),
    }


def table(medians: dict[str, dict[int, dict[str, float]]], sizes: list[int]) -> str:
    """Per side and size: configured targets and analysis time, each beside the smallest
    fleet's; the shared layers the image holds (its graph has a target each) and the
    fleet's targets in its graph that are not its app's (the fleet's, other apps')."""
    lines = [
        f"{'side':<7} {'apps':>4} {'configured':>10} {'vs ' + str(sizes[0]):>7}"
        f" {'analysis s':>10} {'vs ' + str(sizes[0]):>7} {'shared':>6} {'others':>6}"
    ]
    for side, by_size in medians.items():
        first = by_size[sizes[0]]
        for n in sizes:
            m = by_size[n]
            grown = m["configured"] / first["configured"]
            slower = m["analysis_s"] / first["analysis_s"]
            lines.append(
                f"{side:<7} {n:>4} {m['configured']:>10.0f} {grown:>7.2f}"
                f" {m['analysis_s']:>10.3f} {slower:>7.2f} {m.get('shared', 0):>6.0f}"
                f" {m.get('others', 0):>6.0f}"
            )
    if set(SIDES) <= set(medians):
        for n in sizes:
            b, a = medians["before"][n], medians["after"][n]
            lines.append(
                f"after/before at {n}: configured {a['configured'] / b['configured']:.2f},"
                f" analysis {a['analysis_s'] / b['analysis_s']:.2f}"
            )
    return "\n".join(lines)


# -- Bazel ---------------------------------------------------------------------
def analyse(bz: Bazel, size: int, target: str, define: int) -> Analysis:
    """``bazel build --nobuild target`` with a new --define: a fresh analysis."""
    profile = bz.ws / "profiles" / f"{bz.count + 1}.json"  # where Bazel's chroot sees it
    profile.parent.mkdir(exist_ok=True)
    r, _ = bz.call("build", "--nobuild", f"--define=bench_analysis={define}",
                   f"--profile={profile}", target)  # fmt: skip
    try:
        data = json.loads(profile.read_text())
    except (OSError, ValueError) as e:
        raise HarnessError(f"cannot read Bazel's profile {profile}: {e}") from None
    got = Analysis(size, configured_targets(r.stderr), analysis_seconds(data),
                   elapsed_seconds(r.stderr) or 0.0)  # fmt: skip
    progress(f"  n={size}: {got.configured} targets configured, analysis {got.analysis_s:.2f}s")
    return got


# -- the workspaces ------------------------------------------------------------
def unpack_rules(rev: str, dest: Path) -> Path:
    """The repository as of ``rev`` (``git archive``) in ``dest``."""
    archive = dest.with_suffix(".tar")
    cmd = ["git", "-C", str(REPO), "archive", "--format=tar", f"--output={archive}", rev]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise HarnessError(f"git archive {rev}: {r.stderr.strip() or 'failed'}")
    dest.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()
    return dest


def make_workspace(ws: Path, rules: Path, side: str, sizes: list[int]) -> None:
    """The generated workspace of one side, its rules at ``rules``."""
    packages = e2e_packages((E2E / "apps" / "web" / "packages.bzl").read_text())
    ws.mkdir(parents=True)
    (ws / "MODULE.bazel").write_text(module_text(rules, sizes, declare_fleets=side == "after"))
    rc = (rules / "e2e" / ".bazelrc").read_text().replace("%workspace%/../", f"{rules}/")
    (ws / ".bazelrc").write_text(rc)
    shutil.copyfile(rules / "e2e" / "repositories.bzl", ws / "repositories.bzl")
    shutil.copyfile(E2E / "requirements_lock.txt", ws / "requirements_lock.txt")
    (ws / "BUILD.bazel").write_text('exports_files(["requirements_lock.txt"])\n')
    for n in sizes:
        (ws / f"n{n}").mkdir()
        (ws / f"n{n}" / "BUILD.bazel").write_text(fleet_build(n, shared_layers_bzl=False))
        for k in range(n):
            app = ws / f"n{n}" / f"app{k}"
            app.mkdir()
            (app / "main.py").write_text(f'print("app {k} of a fleet of {n}")\n')
            (app / "BUILD.bazel").write_text(app_build(n, k, app_packages(packages, k)))


def fleet_targets_beside(bz: Bazel, n: int) -> list[str]:
    """The targets of fleet ``n`` in app0's image's graph that are not app0's (query).

    With --keep_going: the offline module graph holds empty stand-in modules
    (zlib, ...) that deps() trips on off any configured path (exit 3: partial
    results, here all of the fleet's packages that are reachable).
    """
    expression = f"deps(//n{n}/app0:image) intersect //n{n}/..."
    r, _ = bz.call("query", "--keep_going", expression, "--output=label", ok=(0, 3))
    return [t for t in r.stdout.split() if not t.startswith(f"//n{n}/app0:")]


def measure(bz: Bazel, side: str, sizes: list[int], repeat: int) -> dict[str, object]:
    """Locks written, then ``repeat`` rounds of one analysis per size."""
    bz.call("build", "--nobuild", *[f"//n{n}:fleet" for n in sizes])
    for n in sizes:
        bz.call("run", f"//n{n}:fleet.update")
        if side == "before":
            (bz.ws / f"n{n}" / "BUILD.bazel").write_text(fleet_build(n, shared_layers_bzl=True))
    runs: list[Analysis] = []
    define = 0
    for n in sizes:  # a first analysis of each, not counted
        define += 1
        analyse(bz, n, f"//n{n}/app0:image", define)
    for _ in range(repeat):
        for n in sizes:
            define += 1
            runs.append(analyse(bz, n, f"//n{n}/app0:image", define))
    medians = {n: median_of([r for r in runs if r.size == n]) for n in sizes}
    for n in sizes:
        lock = json.loads((bz.ws / f"n{n}" / "fleet.lock.json").read_text())
        medians[n]["shared"] = shared_layers(lock, f"//n{n}/app0:image")
        medians[n]["others"] = len(fleet_targets_beside(bz, n))
    return {"runs": [asdict(r) for r in runs], "medians": medians}


def parse_sizes(text: str) -> list[int]:
    """``5,20,50`` -> [5, 20, 50]; HarnessError for anything else."""
    try:
        sizes = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise HarnessError(f"--sizes takes fleet sizes such as 5,20,50, got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_analysis.py", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5,20,50", help="fleet sizes (default 5,20,50)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per size; medians (default 5)")
    parser.add_argument(
        "--before", default=BEFORE, help=f"the rules' revision before (default {BEFORE})"
    )
    parser.add_argument("--only", choices=SIDES, help="measure one side")
    args = parser.parse_args(argv)
    sizes = parse_sizes(args.sizes)
    if args.repeat < 1:
        raise HarnessError("--repeat must be at least 1")
    base_image.make("python", None, CACHE / "e2e-bases")
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-analysis-", dir="/var/tmp") as tmp:
        root = Path(tmp)
        for side in [args.only] if args.only else SIDES:
            rules = unpack_rules(args.before, root / "rules-before") if side == "before" else REPO
            ws = root / f"ws-{side}"
            make_workspace(ws, rules, side, sizes)
            bazel = rules / "tools" / "offline" / "bazel"
            bz = Bazel(ws, side, root, bazel=bazel, kind="bench-analysis")
            try:
                results[side] = measure(bz, side, sizes, args.repeat)
            finally:
                bz.expunge()
    medians = {side: got["medians"] for side, got in results.items()}
    print(table(medians, sizes))  # type: ignore[arg-type]
    print(json.dumps({"sizes": sizes, "before": args.before, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    main_wrapper("bench_analysis.py", main)()
