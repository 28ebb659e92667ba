#!/usr/bin/env python3
"""Build cost of the e2e fleet's images beside a three-layer baseline.

Usage (root; runs the offline Bazel of tools/offline/bazel, one at a time)::

    python3 e2e/harness/bench_build.py [--only a,b,c,d] [--bump six==1.17.0:six==1.16.0]
                                       [--repeat 5] [--skip-remote]

A benchmark, not a test: it prints numbers. Our images are the e2e fleet's
(``//apps/{api,web,worker}:image.layers``, all with ``fleet = "//:fleet"``,
see e2e/BUILD.bazel). The baseline is the same apps as three tars each, as a
hand-written rule makes them (``py_layers`` of e2e/baseline/py_layer.bzl, one
action per tar: interpreter, site-packages, app; the interpreter tar is empty
for these apps, whose toolchain names the base image's python by path),
added to the apps' packages of a scratch copy as ``//apps/<app>:baseline``
(tag ``manual``). Ours writes an OCI layout (base, package layers) plus the
app layer; the baseline writes its three gzip tars; neither runs rules_oci's
``oci_image``, which cannot run on these machines.

Measured for each side, in its own output base (under
``$PYIMAGE_CACHE/output``, always expunged and removed), with a warm Bazel
server and ``--execution_log_json_file``:

(a) a cold build of all three images: every action runs (``bazel clean`` of
    an output base whose repositories were fetched first: the fetch, pip's
    wheels included, is the same for both sides and is timed apart);
(b) one image alone (``//apps/api:image.layers``, ``//apps/api:baseline``)
    after ``bazel clean``; for ours also with two more apps in the fleet
    (``//apps/hermetic`` and ``//apps/rp022``, each as a ``fleet_image``
    target: rp022 brings the seven packages of @rules_python_shapes, which no
    fleet app has; hermetic's idna and six are the fleet's already, it adds
    a base without python), after ``bazel run //:fleet.update``;
(c) the rebuild of all three after appending a comment to apps/api/main.py,
    ``--repeat`` times (5; each edit a new comment): the run of median time
    is (c), every time is printed (one such rebuild takes about a second, so
    a single run says little);
(d) the rebuild of all three after bumping one package in
    requirements_lock.txt (pip's repositories are fetched first, timed
    apart); for ours ``bazel run //:fleet.update`` first, as a user would,
    counted in ours' (d) and shown apart too.

Times are Bazel's own ``Elapsed time`` (the runner's wait for its lock and
the server's start are not in them); the JSON has each command's wall time
too. Actions are the spawns of the execution log that no cache served
(Bazel's ``N processes`` line is in the JSON; its ``internal`` ones are not
spawns).

Unless ``--skip-remote`` (or ``--only`` leaves (d) out), it then runs
bench_remote_bytes.py's flow twice, with and without ``--disk_cache``: the
bytes a machine fetches from a cache-only BuildGrid after the same bump, for
one image (``load api``) and all three (its baseline is one site-packages
layer per app built by our rules, not the tars above). About 10 minutes each.

The scratch copy (harnesslib.copy_e2e_workspace) builds rules_pyimage as
this checkout's working tree is, uncommitted changes included. With
``--skip-remote``, about 25 minutes on a 2-CPU machine (two pip fetches of
~3 minutes each; the runner's lock makes other Bazel runs wait, and wait for
them). Prints a table (ours, baseline, ours/baseline) and a JSON dump to
stdout (also, so far, when a step fails), progress to stderr. Exit 0, or 2
with one line on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

HARNESS = Path(__file__).resolve().parent
sys.path.insert(0, str(HARNESS))
import base_image  # noqa: E402
import bench_remote_bytes  # noqa: E402
from bench_remote_bytes import APPS, BAZEL, CACHE  # noqa: E402
from harnesslib import (  # noqa: E402
    HarnessError,
    copy_e2e_workspace,
    executed_spawns,
    last_line,
    main_wrapper,
    progress,
)

STEPS = ("a", "b", "c", "d")
ONE = "api"  # the image built alone (b), whose source is edited (c)
#: Apps that join the fleet for (b)'s second count: app -> (its binary's base).
JOINING = {"hermetic": "@base_nopython//:layout", "rp022": "@base_python//:layout"}
BASELINE_LOAD = 'load("//baseline:py_layer.bzl", bench_py_layers = "py_layers")\n'
IMAGE_LOAD = 'load("@rules_pyimage//oci:defs.bzl", bench_py_image = "py_image")\n'
TIMEOUT = 3600.0
#: What ``bazel run //:fleet.update`` writes (the lock, one file).
LOCK_FILES = ("fleet.lock.json",)


# -- pure helpers --------------------------------------------------------------
@dataclass
class Run:
    """One Bazel command: its times and the actions it executed."""

    command: str
    elapsed_s: float  # Bazel's "Elapsed time" (the wall time when it says none)
    wall_s: float
    executed: int  # spawns no cache served
    cached: int
    processes: str  # Bazel's "N processes: ..." summary
    by_mnemonic: dict[str, int] = field(default_factory=dict)


def elapsed_seconds(stderr: str) -> float | None:
    """Bazel's ``INFO: Elapsed time: 12.3s`` (the last one), or None."""
    found = re.findall(r"^INFO: Elapsed time: ([0-9.]+)s", stderr, re.MULTILINE)
    return float(found[-1]) if found else None


def processes_summary(stderr: str) -> str:
    """Bazel's ``N processes: X internal, Y linux-sandbox.`` line, without ``INFO:``."""
    found = re.findall(r"^INFO: (\d+ process(?:es)?: .*?)\.?$", stderr, re.MULTILINE)
    return found[-1] if found else ""


def bazel_error(stderr: str) -> str:
    """The first ``ERROR:`` line of Bazel's output, else its last line."""
    for line in stderr.splitlines():
        if line.startswith("ERROR:"):
            return line.removeprefix("ERROR:").strip()
    return last_line(stderr)


def spawn_summary(spawns: Iterable[dict[str, object]]) -> tuple[int, int, dict[str, int]]:
    """(executed, served by a cache, executed per mnemonic) of an execution log's spawns."""
    executed = cached = 0
    by_mnemonic: dict[str, int] = {}
    for s in spawns:
        if s.get("remoteCacheHit"):
            cached += 1
            continue
        executed += 1
        mnemonic = str(s.get("mnemonic", "?"))
        by_mnemonic[mnemonic] = by_mnemonic.get(mnemonic, 0) + 1
    return executed, cached, dict(sorted(by_mnemonic.items()))


def parse_steps(text: str) -> list[str]:
    """``a,c`` -> ["a", "c"] (in STEPS order); HarnessError for anything else."""
    wanted = {s.strip() for s in text.split(",") if s.strip()}
    bad = sorted(wanted - set(STEPS))
    if bad or not wanted:
        raise HarnessError(f"--only takes steps of {','.join(STEPS)}, got {text!r}")
    return [s for s in STEPS if s in wanted]


def parse_bump(text: str) -> tuple[str, str]:
    """``six==1.17.0:six==1.16.0`` -> the two pins; HarnessError otherwise."""
    pin = r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+"
    m = re.fullmatch(rf"({pin}):({pin})", text)
    if not m:
        raise HarnessError(
            f"--bump takes OLD==V:NEW==V (e.g. six==1.17.0:six==1.16.0), got {text!r}"
        )
    return m.group(1), m.group(2)


def bumped(lock: str, old: str, new: str) -> str:
    """The lock file's text with the pin ``old`` replaced by ``new``."""
    lines = lock.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.strip() == old]
    if len(hits) != 1:
        raise HarnessError(f"{old} is not pinned once in e2e/requirements_lock.txt; pick another")
    lines[hits[0]] = lines[hits[0]].replace(old, new)
    return "".join(lines)


def with_load(build: str, load: str) -> str:
    """A BUILD file's text with one more load statement at the top (after its comments)."""
    lines = build.splitlines(keepends=True)
    i = 0
    while i < len(lines) and (lines[i].startswith("#") or not lines[i].strip()):
        i += 1
    return "".join([*lines[:i], load, *lines[i:]])


def baseline_target(app: str) -> str:
    """The ``py_layers`` target of the baseline in an app's package."""
    return f"""
# bench_build.py's baseline: interpreter, site-packages and app tars.
bench_py_layers(
    name = "baseline",
    binary = ":{app}",
    tags = ["manual"],
)
"""


def fleet_image_target(app: str, base: str) -> str:
    """One more image of an app's binary, in the fleet ``//:fleet``."""
    return f"""
# bench_build.py: this app joins //:fleet.
bench_py_image(
    name = "fleet_image",
    base = "{base}",
    binary = ":{app}",
    fleet = "//:fleet",
)
"""


def join_fleet(build: str, images: Iterable[str]) -> str:
    """e2e/BUILD.bazel's text with ``images`` first in ``py_image_fleet(name = "fleet")``."""
    m = re.search(r'py_image_fleet\(\s*name = "fleet",\s*images = \[\n', build)
    if not m:
        raise HarnessError('e2e/BUILD.bazel has no py_image_fleet(name = "fleet", images = [...])')
    added = "".join(f'        "{label}",\n' for label in images)
    return build[: m.end()] + added + build[m.end() :]


def ratio(ours: float | None, theirs: float | None) -> str:
    """``ours/theirs`` to two places, or ``-``."""
    if ours is None or theirs is None or theirs == 0:
        return "-"
    return f"{ours / theirs:.2f}"


def table(rows: list[tuple[str, Run | None, Run | None]]) -> str:
    """Ours beside the baseline: time (s), executed actions and their ratios."""
    width = max([40, *(len(what) for what, _, _ in rows)])
    head = (
        f"{'':{width}} {'ours':>16} {'baseline':>16} {'ours/baseline':>15}\n"
        f"{'step':{width}} {'time':>8} {'actions':>7} {'time':>8} {'actions':>7} "
        f"{'time':>7} {'actions':>7}"
    )
    out = [head]
    for what, ours, base in rows:
        cells = []
        for run in (ours, base):
            cells.append(
                f"{run.elapsed_s:>7.1f}s {run.executed:>7}" if run else f"{'-':>8} {'-':>7}"
            )
        times = ratio(ours and ours.elapsed_s, base and base.elapsed_s)
        actions = ratio(ours and ours.executed, base and base.executed)
        out.append(f"{what:{width}} {cells[0]} {cells[1]} {times:>7} {actions:>7}")
    return "\n".join(out)


def median_run(runs: list[Run]) -> Run:
    """The run of median elapsed time (of an even count, the faster middle one)."""
    if not runs:
        raise HarnessError("no runs to take the median of")
    return sorted(runs, key=lambda r: r.elapsed_s)[(len(runs) - 1) // 2]


def total(*runs: Run) -> Run:
    """Several commands as one (times and actions added)."""
    by: dict[str, int] = {}
    for r in runs:
        for k, n in r.by_mnemonic.items():
            by[k] = by.get(k, 0) + n
    return Run(
        " && ".join(r.command for r in runs),
        sum(r.elapsed_s for r in runs),
        sum(r.wall_s for r in runs),
        sum(r.executed for r in runs),
        sum(r.cached for r in runs),
        "; ".join(r.processes for r in runs),
        dict(sorted(by.items())),
    )


# -- Bazel ---------------------------------------------------------------------
class Bazel:
    """The offline Bazel in one workspace and one output base of ours, server kept warm.

    ``bazel`` is the offline runner (another checkout's, to measure its rules);
    ``kind`` names the output base with ``name``.
    """

    def __init__(
        self, ws: Path, name: str, logs: Path, bazel: Path = BAZEL, kind: str = "bench-build"
    ) -> None:
        self.ws = ws
        self.bazel = bazel
        self.output_base = CACHE / "output" / f"{kind}-{name}-{os.getpid()}"
        self.logs = logs
        self.name = name
        self.count = 0

    def call(
        self, *args: str, ok: tuple[int, ...] = (0,)
    ) -> tuple[subprocess.CompletedProcess[str], float]:
        """``bazel <args>`` and its wall time; HarnessError with Bazel's first error when
        its exit code is not one of ``ok``."""
        self.count += 1
        shown = " ".join(args)
        progress(f"{self.name}: bazel {shown}")
        cmd = [str(self.bazel), f"--output_base={self.output_base}", *args]
        env = dict(os.environ, PYIMAGE_KEEP_SERVER="1")
        start = time.monotonic()
        try:
            r = subprocess.run(cmd, cwd=self.ws, capture_output=True, text=True, check=False,
                               env=env, timeout=TIMEOUT)  # fmt: skip
        except subprocess.TimeoutExpired:
            raise HarnessError(f"bazel {shown} timed out after {TIMEOUT:.0f}s") from None
        if r.returncode not in ok:
            raise HarnessError(f"bazel {shown} exited {r.returncode}: {bazel_error(r.stderr)}")
        if "another run holds" in r.stderr:
            progress("  (waited for the runner's lock: the wall time includes the wait)")
        return r, time.monotonic() - start

    def run(self, *args: str) -> Run:
        """``bazel <args>`` with an execution log: its times and the actions it executed."""
        log = self.logs / f"{self.name}-{self.count + 1}.json"
        command, rest = args[0], args[1:]
        logged = [f"--execution_log_json_file={log}"] if command in ("build", "run") else []
        r, wall = self.call(command, *logged, *rest)
        shown = " ".join(args)
        if command in ("build", "run") and not log.is_file():
            raise HarnessError(f"bazel {shown} wrote no execution log at {log}")
        executed, cached, by = spawn_summary(executed_spawns(log) if log.is_file() else [])
        elapsed = elapsed_seconds(r.stderr)
        result = Run(shown, wall if elapsed is None else elapsed, round(wall, 1), executed,
                     cached, processes_summary(r.stderr), by)  # fmt: skip
        progress(f"  {result.elapsed_s:.1f}s, {executed} actions executed ({result.processes})")
        return result

    def clean(self) -> None:
        """``bazel clean``: outputs and action cache gone, fetched repositories kept."""
        self.run("clean")

    def expunge(self) -> None:
        """Stop the server and remove the output base (never fails)."""
        progress(f"{self.name}: bazel clean --expunge")
        subprocess.run([str(self.bazel), f"--output_base={self.output_base}", "clean", "--expunge"],
                       cwd=self.ws, check=False, capture_output=True, timeout=600)  # fmt: skip
        shutil.rmtree(self.output_base, ignore_errors=True)


# -- the workspace -------------------------------------------------------------
def scratch_workspace(root: Path) -> Path:
    """A copy of the e2e workspace with a ``:baseline`` per fleet app; bases made."""
    for kind in ("python", "nopython"):
        base_image.make(kind, None, CACHE / "e2e-bases")
    ws = copy_e2e_workspace(root / "e2e")
    for app in APPS:
        build = ws / "apps" / app / "BUILD.bazel"
        build.write_text(with_load(build.read_text(), BASELINE_LOAD) + baseline_target(app))
    return ws


@contextlib.contextmanager
def edited(ws: Path, *names: str) -> Iterator[None]:
    """Put back the workspace files ``names`` (relative paths) as they were (absent: removed)."""
    saved = {n: (ws / n).read_text() if (ws / n).is_file() else None for n in names}
    try:
        yield
    finally:
        for n, text in saved.items():
            if text is None:
                (ws / n).unlink(missing_ok=True)
            else:
                (ws / n).write_text(text)


def measure(
    ws: Path,
    side: str,
    steps: list[str],
    bump: tuple[str, str],
    *,
    repeat: int,
    logs: Path,
    got: dict[str, Run],
) -> None:
    """Steps (a)-(d) of ``ours`` or ``baseline`` into ``got``, in an output base of its own."""
    ours = side == "ours"
    kind = "image.layers" if ours else "baseline"
    every = [f"//apps/{app}:{kind}" for app in APPS]
    one = f"//apps/{ONE}:{kind}"
    bz = Bazel(ws, side, logs)
    try:
        got["fetch"] = bz.run("build", "--nobuild", *every)
        if "b" in steps:
            bz.clean()
            got["b"] = bz.run("build", one)
        if "a" in steps:
            bz.clean()
            got["a"] = bz.run("build", *every)
        elif {"c", "d"} & set(steps):
            got["warm"] = bz.run("build", *every)
        changed = ("requirements_lock.txt", *LOCK_FILES, f"apps/{ONE}/main.py")
        with edited(ws, *changed):
            if "c" in steps:
                main = ws / "apps" / ONE / "main.py"
                for i in range(1, repeat + 1):
                    main.write_text(main.read_text() + f"# edit {i} by bench_build.py\n")
                    got[f"c{i}"] = bz.run("build", *every)
                got["c"] = median_run([got[f"c{i}"] for i in range(1, repeat + 1)])
            if "d" in steps:
                lock = ws / "requirements_lock.txt"
                lock.write_text(bumped(lock.read_text(), *bump))
                got["d_fetch"] = bz.run("build", "--nobuild", *every)
                if ours:
                    got["d_update"] = bz.run("run", "//:fleet.update")
                got["d_build"] = bz.run("build", *every)
                got["d"] = total(got["d_update"], got["d_build"]) if ours else got["d_build"]
        if ours and "b" in steps:
            got.update(join_and_build_one(ws, bz, one))
    finally:
        bz.expunge()


def join_and_build_one(ws: Path, bz: Bazel, one: str) -> dict[str, Run]:
    """(b) again with the JOINING apps in the fleet: the update, then ``one`` after a clean."""
    builds = [f"apps/{app}/BUILD.bazel" for app in JOINING]
    with edited(ws, "BUILD.bazel", *LOCK_FILES, *builds):
        fleet = ws / "BUILD.bazel"
        fleet.write_text(
            join_fleet(fleet.read_text(), [f"//apps/{a}:fleet_image" for a in JOINING])
        )
        for app, base in JOINING.items():
            build = ws / "apps" / app / "BUILD.bazel"
            build.write_text(
                with_load(build.read_text(), IMAGE_LOAD) + fleet_image_target(app, base)
            )
        got = {"b5_update": bz.run("run", "//:fleet.update")}
        bz.clean()
        got["b5"] = bz.run("build", one)
    return got


def remote(bump: str) -> dict[str, object]:
    """bench_remote_bytes.py's flow with and without --disk_cache: its JSON, its output."""
    out: dict[str, object] = {}
    for disk in (True, False):
        what = "with --disk_cache" if disk else "without --disk_cache"
        progress(f"remote bytes ({what}): bench_remote_bytes.py's flow")
        args = argparse.Namespace(bump=bump, no_disk_cache=not disk)
        out[what] = bench_remote_bytes.capture(args)
    return out


def load_one(rows: dict[str, dict[str, dict[str, int]]]) -> str:
    """One line per side of bench_remote_bytes's ``load api`` row."""
    lines = []
    for label, got in rows.items():
        n = got[f"load {ONE}"]
        fetched = n["fetched_output_bytes"] + n["fetched_other_bytes"]
        lines.append(f"  {label}: {fetched:,} bytes ({n['reads']} reads)")
    return "\n".join(lines)


def report(
    results: dict[str, dict[str, Run]], bump: tuple[str, str], remote_out: dict[str, object]
) -> None:
    ours, base = results.get("ours", {}), results.get("baseline", {})
    old, new = bump
    rows = [
        ("(a) cold build, all 3 images", ours.get("a"), base.get("a")),
        (f"(b) one image ({ONE}) from clean", ours.get("b"), base.get("b")),
        (f"(c) rebuild all after editing apps/{ONE}/main.py", ours.get("c"), base.get("c")),
        (f"(d) rebuild all after {old} -> {new}", ours.get("d"), base.get("d")),
        ("    of which bazel run //:fleet.update", ours.get("d_update"), None),
        ("    of which the build", ours.get("d_build"), base.get("d_build")),
        ("fetching repositories (fresh output base)", ours.get("fetch"), base.get("fetch")),
        ("fetching repositories after the bump", ours.get("d_fetch"), base.get("d_fetch")),
    ]
    rows = [r for r in rows if r[1] or r[2]]
    print(
        "\nBuild cost: ours (//apps/<app>:image.layers in fleet //:fleet) beside the baseline\n"
        "(//apps/<app>:baseline: interpreter, site-packages and app tars; the interpreter tars\n"
        "are empty: the toolchain names the base image's python by path). Times: Bazel's\n"
        "elapsed seconds; actions: the spawns it executed."
    )
    print(table(rows))
    for side, got in (("ours", ours), ("baseline", base)):
        runs = sorted((k for k in got if re.fullmatch(r"c\d+", k)), key=lambda k: int(k[1:]))
        if runs:
            times = " ".join(f"{got[k].elapsed_s:.1f}s" for k in runs)
            print(f"(c) each rebuild, {side}: {times} (the median is in the table)")
    if "b5" in ours and "b" in ours:
        print(f"\n(b) {ONE} alone, executed actions: {ours['b'].executed} with 3 images in "
              f"the fleet, {ours['b5'].executed} with 5 (+ {', '.join(JOINING)})")  # fmt: skip
    for what, got in remote_out.items():
        print(f"\nbytes fetched from the remote cache for one image after the bump ({what}):")
        print(load_one(got["rows"]))  # type: ignore[index]
        print(got["report"])  # type: ignore[index]
    dump = {side: {k: asdict(r) for k, r in got.items()} for side, got in results.items()}
    dump["bump"] = {"old": old, "new": new}  # type: ignore[assignment]
    if remote_out:
        dump["remote"] = remote_out
    print(json.dumps(dump, indent=1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_build.py", description=__doc__.split("\n")[0])
    p.add_argument("--only", default=",".join(STEPS), help="steps to run (default a,b,c,d)")
    p.add_argument("--bump", default="six==1.17.0:six==1.16.0", help="OLD==V:NEW==V for (d)")
    p.add_argument("--skip-remote", action="store_true", help="skip the BuildGrid bytes part")
    p.add_argument("--repeat", type=int, default=5, help="edits and rebuilds of (c) (default 5)")
    args = p.parse_args(argv)
    if args.repeat < 1:
        raise HarnessError(f"--repeat takes a count of 1 or more, got {args.repeat}")
    steps = parse_steps(args.only)
    bump = parse_bump(args.bump)
    # A plain `kill` still expunges and removes the output bases.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict[str, dict[str, Run]] = {}
    remote_out: dict[str, object] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="pyimage-bench-build-") as tmp:
            ws = scratch_workspace(Path(tmp))
            bumped((ws / "requirements_lock.txt").read_text(), *bump)  # fail early
            logs = ws / ".bench-logs"  # inside the workspace: the runner mounts it
            logs.mkdir()
            for side in ("baseline", "ours"):  # the cheaper side first
                results[side] = {}
                measure(ws, side, steps, bump, repeat=args.repeat, logs=logs, got=results[side])
        if not args.skip_remote and "d" in steps:
            remote_out = remote(args.bump)
    except HarnessError:
        if results:
            progress("failed; what was measured so far:")
            report(results, bump, remote_out)
        raise
    report(results, bump, remote_out)
    return 0


if __name__ == "__main__":
    main_wrapper("bench_build.py", main)()
