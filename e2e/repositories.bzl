"""Repository rules of the e2e workspace: base images and a CPython tree."""

def _local_oci_layout_impl(rctx):
    cache = rctx.os.environ.get("PYIMAGE_CACHE", "/var/cache/rules_pyimage")
    path = "{}/e2e-bases/{}".format(cache, rctx.attr.kind)
    if not rctx.path(path + "/index.json").exists:
        fail("no {} base image at {}: run `python3 e2e/harness/base_image.py make --kind {}` (the e2e tests, `tools/test e2e`, do; see e2e/harness/README.md)".format(
            rctx.attr.kind,
            path,
            rctx.attr.kind,
        ))
    rctx.symlink(path + "/index.json", "layout/index.json")
    rctx.symlink(path + "/oci-layout", "layout/oci-layout")
    rctx.symlink(path + "/blobs", "layout/blobs")
    rctx.file("BUILD.bazel", """filegroup(
    name = "layout",
    srcs = glob(["layout/**"]),
    visibility = ["//visibility:public"],
)
""")

local_oci_layout = repository_rule(
    implementation = _local_oci_layout_impl,
    attrs = {"kind": attr.string(mandatory = True)},
    environ = ["PYIMAGE_CACHE"],
    local = True,
    doc = "An OCI layout made outside Bazel, in $PYIMAGE_CACHE/e2e-bases/<kind>.",
)

_CPYTHON_BUILD = """
load("@rules_python//python:defs.bzl", "py_runtime", "py_runtime_pair")

filegroup(
    name = "files",
    srcs = glob(
        [
            "bin/python3*",
            "lib/libpython3*",
            "lib/python3.11/**",
        ],
        exclude = [
            "**/* *",
            "**/__pycache__/**",
            "lib/python3.11/config-*/**",
            "lib/python3.11/idlelib/**",
            "lib/python3.11/site-packages/**",
            "lib/python3.11/test/**",
            "lib/python3.11/tkinter/**",
        ],
    ),
)

py_runtime(
    name = "runtime",
    files = [":files"],
    interpreter = "bin/python3.11",
    python_version = "PY3",
)

py_runtime_pair(
    name = "pair",
    py3_runtime = ":runtime",
)

toolchain(
    name = "toolchain",
    toolchain = ":pair",
    toolchain_type = "@bazel_tools//tools/python:toolchain_type",
)
"""

def _host_cpython_impl(rctx):
    python = rctx.which("python3.11")
    if not python:
        fail("python3.11 is not on PATH (tools/offline/bazel puts the host's there)")
    prefix = rctx.path(str(python.realpath) + "/../..")
    for name in ["bin", "lib"]:
        rctx.symlink(str(prefix) + "/" + name, name)
    rctx.file("BUILD.bazel", _CPYTHON_BUILD)

host_cpython = repository_rule(
    implementation = _host_cpython_impl,
    local = True,
    doc = "The CPython 3.11 tree behind `python3.11`, as a hermetic toolchain's files.",
)
