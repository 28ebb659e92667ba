"""What e2e/harness/bench_torch.py builds and samples (no Bazel is run here)."""

from __future__ import annotations

import subprocess
import sys
import time
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


def test_the_sampler_reads_the_peak_rss_of_a_pyimage_process() -> None:
    # A process whose argv names tools/pyimage, as the actions' do, holding 64 MiB.
    code = "import sys, time; x = bytearray(64 << 20); print(1, flush=True); time.sleep(30)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "tools/pyimage/pyimage"], stdout=subprocess.PIPE
    )
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"1"
        sampler = bench_torch.Sampler(Path("/"))
        deadline = time.monotonic() + 10
        while proc.pid not in sampler.peaks and time.monotonic() < deadline:
            sampler.sample(Path(f"/proc/{proc.pid}"))
        sampler.sample(Path(f"/proc/{other.pid}"))
    finally:
        proc.kill()
        other.kill()
        proc.wait()
        other.wait()
    peak, argv = sampler.peaks[proc.pid]
    assert 64 << 20 <= peak < 1 << 30
    assert argv.endswith(" pyimage")  # argv's words by their last path part
    assert other.pid not in sampler.peaks
