"""The apps over @rules_python_shapes: one rules_python version's pip targets each."""

load("@rules_pyimage//oci:defs.bzl", "py_image")
load("@rules_pyimage//py/tests/shapes:repository.bzl", "PACKAGES")
load("@rules_pyimage//py/tests/shapes:venv.bzl", "venv_runfiles")
load("@rules_python//python:defs.bzl", "py_binary")

def shape_app(shape, venv = False):
    """A py_binary over one shape's hub (`@rules_python_shapes//<shape>/pypi/...`) and its `:image`.

    Args:
        shape: `rp022`, `rp1x` or `rp2x`.
        venv: give the binary a venv's runfiles, as rules_python 1.x does with
            `venvs_site_packages=yes`.
    """
    app = native.package_name().split("/")[-1]
    data = []
    if venv:
        venv_runfiles(
            name = "venv",
            binary_name = app,
            packages = ["@rules_python_shapes//{}/spokes/{}:pkg".format(shape, p) for p in PACKAGES],
        )
        data = [":venv"]
    py_binary(
        name = app,
        srcs = ["//apps:shape_app.py"],
        data = data,
        main = "//apps:shape_app.py",
        deps = ["//apps:report"] + ["@rules_python_shapes//{}/pypi/{}".format(shape, p) for p in PACKAGES],
    )
    py_image(
        name = "image",
        args = [app],
        base = "@base_python//:layout",
        binary = ":" + app,
    )
