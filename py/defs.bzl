"""Public API of rules_pyimage's Python side.

```starlark
load("@rules_pyimage//py:defs.bzl", "py_image_layers", "pip_packages_aspect", ...)
```
"""

load("//py/private:image_common.bzl", _DEFAULT_MAX_LAYERS = "DEFAULT_MAX_LAYERS", _MAX_LAYERS_LIMIT = "MAX_LAYERS_LIMIT")
load("//py/private:pip_packages_aspect.bzl", _pip_packages_aspect = "pip_packages_aspect")
load(
    "//py/private:providers.bzl",
    _PyImageFleetInfo = "PyImageFleetInfo",
    _PyImageInputsInfo = "PyImageInputsInfo",
    _PyImageLayersInfo = "PyImageLayersInfo",
    _PyImagePackagesInfo = "PyImagePackagesInfo",
    _PyPipPackageInfo = "PyPipPackageInfo",
)
load("//py/private:py_image_fleet.bzl", _py_image_fleet = "py_image_fleet")
load("//py/private:py_image_inputs.bzl", _py_image_inputs = "py_image_inputs")
load("//py/private:py_image_layers.bzl", _py_image_layers = "py_image_layers")
load("//py/private:py_image_plan.bzl", _py_image_plan = "py_image_plan")

pip_packages_aspect = _pip_packages_aspect
py_image_layers = _py_image_layers
py_image_inputs = _py_image_inputs
py_image_fleet = _py_image_fleet
PyImageFleetInfo = _PyImageFleetInfo
PyImageInputsInfo = _PyImageInputsInfo

# The default `max_layers`, and the most any image may have (Docker's limit).
DEFAULT_MAX_LAYERS = _DEFAULT_MAX_LAYERS
MAX_LAYERS_LIMIT = _MAX_LAYERS_LIMIT
py_image_plan = _py_image_plan
PyImageLayersInfo = _PyImageLayersInfo
PyImagePackagesInfo = _PyImagePackagesInfo
PyPipPackageInfo = _PyPipPackageInfo
