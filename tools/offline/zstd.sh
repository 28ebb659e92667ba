#!/bin/sh
# The chroot's zstd, for the offline zstd toolchain (BUILD.bazel).
exec /usr/bin/zstd "$@"
