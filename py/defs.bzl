"""Public API of rules_pyimage's Python side.

```starlark
load("@rules_pyimage//py:defs.bzl", "py_image_layers", "pip_packages_aspect", ...)
```
"""

load("//py/private:pip_packages_aspect.bzl", _pip_packages_aspect = "pip_packages_aspect")
load(
    "//py/private:providers.bzl",
    _PyImageLayersInfo = "PyImageLayersInfo",
    _PyImagePackagesInfo = "PyImagePackagesInfo",
    _PyPipPackageInfo = "PyPipPackageInfo",
)
load("//py/private:py_image_layers.bzl", _py_image_layers = "py_image_layers")

pip_packages_aspect = _pip_packages_aspect
py_image_layers = _py_image_layers
PyImageLayersInfo = _PyImageLayersInfo
PyImagePackagesInfo = _PyImagePackagesInfo
PyPipPackageInfo = _PyPipPackageInfo
