"""The pure helpers of e2e/harness/bench_build.py (no Bazel is run here)."""

from __future__ import annotations

import json
from pathlib import Path

import bench_build
import pytest
from bench_build import Run
from harnesslib import REPO, HarnessError, executed_counts, executed_spawns

BAZEL_STDERR = """\
INFO: Analyzed 3 targets (120 packages loaded, 4000 targets configured).
INFO: Found 3 targets...
INFO: Elapsed time: 1.5s, Critical Path: 0.9s
INFO: 277 processes: 10 internal, 267 processwrapper-sandbox.
INFO: Build completed successfully, 300 total actions
"""


def run(elapsed: float, executed: int, by: dict[str, int] | None = None) -> Run:
    return Run("build x", elapsed, elapsed + 1, executed, 0, f"{executed} processes", by or {})


def test_bazel_summary_lines() -> None:
    assert bench_build.elapsed_seconds(BAZEL_STDERR) == 1.5
    assert bench_build.elapsed_seconds("INFO: nothing\n") is None
    summary = bench_build.processes_summary(BAZEL_STDERR)
    assert summary == "277 processes: 10 internal, 267 processwrapper-sandbox"
    one = bench_build.processes_summary("INFO: 1 process: 1 internal.\n")
    assert one == "1 process: 1 internal"


def test_bazel_error_is_one_line() -> None:
    stderr = "INFO: x\nERROR: /ws/BUILD:3:1: no such target\nERROR: Build failed\n"
    assert bench_build.bazel_error(stderr) == "/ws/BUILD:3:1: no such target"
    assert bench_build.bazel_error("warning\nlast words\n") == "last words"


def test_spawn_summary_leaves_cache_hits_out(tmp_path: Path) -> None:
    log = tmp_path / "exec.json"
    spawns = [
        {"mnemonic": "PyImageLayer", "targetLabel": "//a:x"},
        {"mnemonic": "PyImageLayer", "targetLabel": "//b:x"},
        {"mnemonic": "Genrule", "targetLabel": "//a:g", "remoteCacheHit": True},
    ]
    # As Bazel writes it: objects one after another, pretty-printed.
    log.write_text("".join(json.dumps(s, indent=2) + "\n" for s in spawns))
    assert executed_spawns(log) == spawns
    assert executed_counts(log) == {
        "PyImageLayer //a:x": 1,
        "PyImageLayer //b:x": 1,
        "Genrule //a:g": 1,
    }
    assert bench_build.spawn_summary(executed_spawns(log)) == (2, 1, {"PyImageLayer": 2})


def test_steps_and_bump_arguments() -> None:
    assert bench_build.parse_steps("d, a") == ["a", "d"]
    for bad in ("e", "", "a,x"):
        with pytest.raises(HarnessError, match="--only"):
            bench_build.parse_steps(bad)
    assert bench_build.parse_bump("six==1.17.0:six==1.16.0") == ("six==1.17.0", "six==1.16.0")
    with pytest.raises(HarnessError, match="--bump"):
        bench_build.parse_bump("six:1.16.0")


def test_bumped_replaces_one_pin_only() -> None:
    lock = "# c\nsix==1.17.0\nsixer==1.17.0\n"
    assert bench_build.bumped(lock, "six==1.17.0", "six==1.16.0") == (
        "# c\nsix==1.16.0\nsixer==1.17.0\n"
    )
    with pytest.raises(HarnessError, match="not pinned once"):
        bench_build.bumped(lock, "six==9.9", "six==1.16.0")


def test_build_file_edits() -> None:
    build = '# comment\n\nload("//x:y.bzl", "z")\n\nz(name = "a")\n'
    loaded = bench_build.with_load(build, bench_build.BASELINE_LOAD)
    assert loaded.startswith("# comment\n\n" + bench_build.BASELINE_LOAD + 'load("//x:y.bzl"')
    # The e2e workspace's fleet, as it is now: new images go first in its list.
    fleet = (REPO / "e2e" / "BUILD.bazel").read_text()
    joined = bench_build.join_fleet(fleet, ["//apps/hermetic:fleet_image"])
    assert '    images = [\n        "//apps/hermetic:fleet_image",\n' in joined
    assert joined.replace('        "//apps/hermetic:fleet_image",\n', "", 1) == fleet
    with pytest.raises(HarnessError, match="py_image_fleet"):
        bench_build.join_fleet("py_image(name = 'fleet')\n", ["//a:b"])
    for app in bench_build.JOINING:  # the apps that join the fleet exist
        assert (REPO / "e2e" / "apps" / app / "BUILD.bazel").is_file(), app


def test_table_ratios_and_totals() -> None:
    both = bench_build.total(run(2.0, 3, {"A": 3}), run(4.0, 5, {"A": 1, "B": 4}))
    assert (both.elapsed_s, both.wall_s, both.executed, both.by_mnemonic) == (
        6.0,
        8.0,
        8,
        {"A": 4, "B": 4},
    )
    assert bench_build.ratio(6.0, 2.0) == "3.00"
    assert bench_build.ratio(1.0, 0) == "-"
    assert bench_build.ratio(None, 2.0) == "-"
    text = bench_build.table([("(a) cold", both, run(2.0, 4)), ("(x) ours only", both, None)])
    lines = text.splitlines()
    assert lines[2].split()[-6:] == ["6.0s", "8", "2.0s", "4", "3.00", "2.00"]
    assert lines[3].split()[-6:] == ["6.0s", "8", "-", "-", "-", "-"]


def test_median_run_is_one_of_the_runs_in_the_middle() -> None:
    runs = [run(3.0, 1), run(1.0, 2), run(2.0, 3), run(9.0, 4), run(0.5, 5)]
    assert bench_build.median_run(runs) is runs[2]
    assert bench_build.median_run(runs[:4]) is runs[2]  # even: the faster middle one
    assert bench_build.median_run(runs[:1]) is runs[0]
    with pytest.raises(HarnessError):
        bench_build.median_run([])


def test_remote_takes_bench_remote_bytes_json(monkeypatch: pytest.MonkeyPatch) -> None:
    row = {
        "fetched_output_bytes": 10,
        "fetched_other_bytes": 2,
        "reads": 3,
        "action_result_bytes": 5,
        "fetched_unchanged_bytes": 0,
        "changed_output_bytes": 10,
    }
    rows = {"ours": {"load api": row, "all images": row}}
    seen = []

    def fake_run(args: object, corpus: object) -> int:
        assert corpus is bench_build.bench_remote_bytes.E2E_FLEET
        seen.append(args.no_disk_cache)  # type: ignore[attr-defined]
        print("bytes fetched ...:\nload api: ours 12 bytes")
        print(json.dumps(rows, indent=1))
        return 0

    monkeypatch.setattr(bench_build.bench_remote_bytes, "run", fake_run)
    got = bench_build.remote("six==1.17.0:six==1.16.0")
    assert seen == [False, True]
    assert list(got) == ["with --disk_cache", "without --disk_cache"]
    first = got["with --disk_cache"]
    assert first == {
        "exit": 0,
        "report": "bytes fetched ...:\nload api: ours 12 bytes",
        "rows": rows,
    }
    assert bench_build.load_one(rows) == "  ours: 12 bytes (3 reads)"
