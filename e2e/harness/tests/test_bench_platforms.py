"""What e2e/harness/bench_platforms.py counts (no Bazel is run here)."""

from __future__ import annotations

import bench_platforms


def test_unique_bytes_count_a_blob_held_by_several_images_once() -> None:
    got = {
        "//apps/a:image.linux_amd64.layers": {"sha256:base": 100, "sha256:six": 10},
        "//apps/b:image.linux_amd64.layers": {"sha256:base": 100, "sha256:yaml": 20},
    }
    assert bench_platforms.unique_bytes(got) == (3, 130)


def test_blobs_shared_between_platforms_are_those_both_hold() -> None:
    got = {
        "//apps/a:image.linux_amd64.layers": {"sha256:base": 100, "sha256:six": 10},
        "//apps/a:image.linux_arm64.layers": {"sha256:armbase": 90, "sha256:six": 10},
        "//apps/b:image.linux_arm64.layers": {"sha256:yaml": 20},
        "//apps/b:image.linux_amd64.layers": {"sha256:yaml": 20, "sha256:base": 100},
    }
    assert bench_platforms.shared_between_platforms(got) == {"sha256:six": 10, "sha256:yaml": 20}


def test_the_targets_are_each_apps_layers_per_platform() -> None:
    assert bench_platforms.targets(("linux_amd64",)) == [
        "//apps/multiarch:image.linux_amd64.layers",
        "//apps/multiarch_b:image.linux_amd64.layers",
    ]
    assert len(bench_platforms.targets(bench_platforms.PLATFORMS)) == 4
