"""What e2e/harness/bench_torch.py builds and samples (no Bazel is run here)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import bench_remote_bytes
import bench_torch
import pytest
from harnesslib import REPO, HarnessError


def test_hub_names_are_those_rules_python_gives() -> None:
    assert bench_torch.hub_name("nvidia-cudnn-cu13==9.24.0.43") == "nvidia_cudnn_cu13"
    assert bench_torch.hub_name("typing-extensions==4.16.0") == "typing_extensions"
    assert bench_torch.hub_name("PyYAML==6.0.2") == "pyyaml"
    assert bench_torch.hub_name("zope.interface==7.0") == "zope_interface"


def test_each_app_holds_torchs_set_once_and_its_own_small_package() -> None:
    build = bench_torch.app_build("torch_b", "idna==3.10")
    for pin in (*bench_torch.TORCH, "idna==3.10"):
        assert build.count(f'"@pypi//{bench_torch.hub_name(pin)}",') == 1, pin
    assert "@pypi//six" not in build
    assert 'fleet = "//:fleet"' in build
    assert 'binary = ":torch_b"' in build


def test_the_apps_small_packages_differ_and_the_bump_is_torch_as() -> None:
    smalls = [small.split("==")[0] for small, _ in bench_torch.APPS.values()]
    assert len(set(smalls)) == len(smalls)
    old, new = bench_torch.BUMP.split(":")
    assert bench_torch.APPS[bench_torch.LOAD_ONE][0] == old
    assert old.split("==")[0] == new.split("==")[0] and old != new


def test_torch_module_keeps_the_fleet_and_pip_and_drops_the_e2e_extras() -> None:
    e2e = (REPO / "e2e" / "MODULE.bazel").read_text()
    module = bench_torch.torch_module(e2e)
    assert "shapes" not in module.replace("target shapes", "")
    assert "//apps/variants" not in module
    assert 'fleet = "//:fleet"' in module
    assert "pip.parse(" in module and 'use_repo(pip, "pypi")' in module
    assert 'local_oci_layout(\n    name = "base_python"' in module
    with pytest.raises(HarnessError, match="the shapes extension"):
        bench_torch.torch_module(module)


def test_corpus_steps_fetch_of_the_baseline_only_the_apps_it_has() -> None:
    e2e = bench_remote_bytes.E2E_FLEET
    assert e2e.steps("naive") == [("load api", ("api",)), ("all images", e2e.apps)]
    torch = bench_remote_bytes.Corpus(Path, ("a", "b", "c"), "a", ("a",))
    assert torch.steps("image") == [("load a", ("a",)), ("all images", ("a", "b", "c"))]
    assert torch.steps("naive") == [("load a", ("a",))]


def row(fetched: int, unchanged_layers: int = 0) -> dict[str, int]:
    return {
        "fetched_output_bytes": fetched,
        "fetched_other_bytes": 0,
        "reads": 1,
        "action_result_bytes": 0,
        "fetched_unchanged_bytes": unchanged_layers,
        "fetched_unchanged_layer_bytes": unchanged_layers,
        "changed_output_bytes": fetched,
    }


def test_a_step_the_baseline_lacks_is_still_checked_for_unchanged_layers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = argparse.Namespace(bump="six==1.17.0:six==1.16.0", no_disk_cache=False)
    naive = {"load a": row(3_000_000)}
    good = [("ours", {"load a": row(300), "all images": row(0)}), ("naive", naive)]
    assert bench_remote_bytes.report(good, args) == 0
    assert (
        "load a: ours 300 bytes, baseline 3,000,000 bytes (10,000x less)" in capsys.readouterr().out
    )
    bad = [("ours", {"load a": row(300), "all images": row(900, 600)}), ("naive", naive)]
    assert bench_remote_bytes.report(bad, args) == 1
    out = capsys.readouterr().out
    assert "all images: ours 900 bytes (no baseline for this step)" in out
    assert "600 bytes of output files that did not change" in out


def test_package_actions_read_each_descriptor_and_the_execution_time(tmp_path: Path) -> None:
    out = "bazel-out/k8-fastbuild/bin/external/pypi_torch/pkg.pyimage"
    (tmp_path / out).mkdir(parents=True)
    (tmp_path / out / "layer.json").write_text(json.dumps({"size": 500, "tar_size": 1100}))
    spawns = [
        {"mnemonic": "PyImagePackageLayer", "targetLabel": "@pypi_torch//:pkg",
         "metrics": {"executionWallTime": "27.700s"},
         "actualOutputs": [{"path": f"{out}/layer.tar.gz"}, {"path": f"{out}/layer.json"}]},
        {"mnemonic": "PyImageLayout", "targetLabel": "//apps/a:image",
         "metrics": {"executionWallTime": "1s"}, "actualOutputs": []},
        {"mnemonic": "PyImagePackageLayer", "targetLabel": "@pypi_six//:pkg",
         "remoteCacheHit": True, "actualOutputs": []},
    ]  # fmt: skip
    log = tmp_path / "log.json"
    log.write_text("".join(json.dumps(s, indent=1) + "\n" for s in spawns))
    got = bench_torch.package_actions(tmp_path, log)
    assert got == [{"target": "@pypi_torch//:pkg", "seconds": 27.7, "size": 500, "tar_size": 1100}]
    assert bench_torch.seconds({"mnemonic": "x"}) == 0.0


def hold(argv_tail: str) -> subprocess.Popen[bytes]:
    """A Python holding 64 MiB, with ``argv_tail`` as its last argument, once it holds it."""
    code = "import sys, time; x = bytearray(64 << 20); print(1, flush=True); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code, argv_tail], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"1"
    return proc


def test_the_sampler_reads_the_peak_rss_of_the_output_bases_pyimage_processes(
    tmp_path: Path,
) -> None:
    # The tool's path as a worker's argv has it: under the output base, anywhere in argv.
    base = tmp_path / "output" / "bench-torch-ours-1"
    tool = f"{base}/execroot/_main/bazel-out/bin/external/rules_pyimage~/tools/pyimage/pyimage"
    other = str(tmp_path / "output" / "e2e" / "execroot/_main/bin/tools/pyimage/pyimage")
    procs = [hold(tool), hold(other), hold(f"{base}/execroot/_main/bin/other/tool")]
    try:
        sampler = bench_torch.Sampler(Path("/"), base)
        for proc in procs:
            sampler.sample(Path(f"/proc/{proc.pid}"))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert set(sampler.peaks) == {procs[0].pid}
    peak, argv = sampler.peaks[procs[0].pid]
    assert 64 << 20 <= peak < 1 << 30
    assert argv.endswith(" pyimage")  # argv's words by their last path part
    assert not bench_torch.Sampler(Path("/")).tool  # no output base: disk only
