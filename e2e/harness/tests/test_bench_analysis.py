"""The pure helpers of e2e/harness/bench_analysis.py (no Bazel is run here)."""

from __future__ import annotations

import bench_analysis
import pytest
from bench_analysis import Analysis
from harnesslib import REPO, HarnessError

PACKAGES = bench_analysis.e2e_packages((REPO / "e2e/apps/web/packages.bzl").read_text())


def test_e2e_packages_are_the_web_apps_labels() -> None:
    assert len(PACKAGES) == len(set(PACKAGES)) > 100
    assert all(p.startswith("@pypi//") for p in PACKAGES)
    with pytest.raises(HarnessError, match="names 1 packages"):
        bench_analysis.e2e_packages('["@pypi//six"]')


def test_an_app_draws_the_same_packages_in_every_fleet() -> None:
    first = bench_analysis.app_packages(PACKAGES, 0)
    assert first == bench_analysis.app_packages(list(PACKAGES), 0)
    assert 4 <= len(first) <= 40 and set(first) <= set(PACKAGES)
    draws = {tuple(bench_analysis.app_packages(PACKAGES, k)) for k in range(50)}
    assert len(draws) == 50  # apps differ from one another


def test_configured_targets_is_the_last_count() -> None:
    stderr = (
        "INFO: Analyzed target //n5/app0:image (3 packages loaded, 12 targets configured).\n"
        "INFO: Analyzed target //n5/app0:image (0 packages loaded, 1234 targets configured).\n"
    )
    assert bench_analysis.configured_targets(stderr) == 1234
    one = "INFO: Analyzed target //x:y (1 package loaded, 1 target configured).\n"
    assert bench_analysis.configured_targets(one) == 1
    with pytest.raises(HarnessError, match="no 'targets configured'"):
        bench_analysis.configured_targets("INFO: Build completed\n")


def marker(name: str, ts: int) -> dict[str, object]:
    return {"cat": "build phase marker", "name": name, "ts": ts, "ph": "i"}


def test_analysis_seconds_runs_from_its_marker_to_the_next_or_the_end() -> None:
    events = [
        marker("Launch Blaze", 0),
        {"cat": "x", "name": "work", "ts": 1_000_000, "dur": 9_000_000},
        marker(bench_analysis.ANALYSIS_PHASE, 2_000_000),
        marker("Prepare for build", 4_500_000),
    ]
    assert bench_analysis.analysis_seconds({"traceEvents": events}) == 2.5
    last = {"traceEvents": events[:3]}  # no later marker: the last event's end
    assert bench_analysis.analysis_seconds(last) == 8.0
    with pytest.raises(HarnessError, match="has no 'Load and analyze dependencies' phase"):
        bench_analysis.analysis_seconds({"traceEvents": events[:2]})


def test_generated_build_files() -> None:
    before = bench_analysis.fleet_build(3, shared_layers_bzl=True)
    assert 'load(":fleet.lock.bzl", "SHARED_LAYERS")' in before
    assert "shared_layers = SHARED_LAYERS" in before and '"//n3/app2:image"' in before
    after = bench_analysis.fleet_build(3, shared_layers_bzl=False)
    assert "SHARED_LAYERS" not in after and after.count(":image") == 3
    app = bench_analysis.app_build(20, 7, ["@pypi//six"])
    assert 'fleet = "//n20:fleet"' in app and '"@pypi//six"' in app and 'name = "app7"' in app
    module = bench_analysis.module_text(REPO, [5, 50], declare_fleets=True)
    assert module.count("pyimage.fleet(") == 2 and 'lock = "//n50:fleet.lock.json"' in module
    assert "pyimage.fleet(" not in bench_analysis.module_text(REPO, [5], declare_fleets=False)


def test_table_puts_sizes_beside_the_smallest_and_after_beside_before() -> None:
    def m(configured: int, analysis_s: float) -> dict[str, float]:
        return {"configured": configured, "analysis_s": analysis_s, "shared": 3, "others": 7}

    before, after = {5: m(100, 1.0), 50: m(400, 3.0)}, {5: m(50, 0.5), 50: m(50, 0.52)}
    medians = {"before": before, "after": after}
    text = bench_analysis.table(medians, [5, 50])  # type: ignore[arg-type]
    assert "before    50        400    4.00      3.000    3.00      3      7\n" in text
    assert "after     50         50    1.00      0.520    1.04      3      7\n" in text
    assert "after/before at 50: configured 0.12, analysis 0.17" in text


def test_median_and_sizes() -> None:
    runs = [Analysis(5, c, a, a + 1) for c, a in [(10, 3.0), (10, 1.0), (10, 2.0)]]
    assert bench_analysis.median_of(runs) == {"configured": 10, "analysis_s": 2.0, "elapsed_s": 3.0}
    assert bench_analysis.parse_sizes("50,5,20") == [5, 20, 50]
    for bad in ("", "a", "0,5"):
        with pytest.raises(HarnessError, match="--sizes"):
            bench_analysis.parse_sizes(bad)


def test_shared_layers_count_layers_of_several_packages() -> None:
    layers = [{"packages": ["a==1"]}, {"packages": ["b==1", "c==1"], "group": "g"}]
    lock = {"images": {"//n5/app0:image": {"layers": layers}}}
    assert bench_analysis.shared_layers(lock, "//n5/app0:image") == 1
    with pytest.raises(HarnessError, match="no image //n5/app1:image"):
        bench_analysis.shared_layers(lock, "//n5/app1:image")
