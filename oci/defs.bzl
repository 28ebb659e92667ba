"""rules_pyimage's public API: everything users write, in one file.

```starlark
load("@rules_pyimage//oci:defs.bzl", "py_image", "py_image_fleet")
```

- `py_image`: a Python container image (wraps rules_oci's `oci_image`).
- Everything of `//py:defs.bzl`, re-exported: `py_image_fleet` (one layer
  plan, kept in a lock file, for several `py_image`s), `py_image_layers` and
  its `PyImageLayersInfo` and `PyImagePlatformsInfo` (the image without
  rules_oci's part; `py_image_layers_rule`, the rule it makes per platform),
  `py_image_parts`, and two constants: `DEFAULT_MAX_LAYERS` (60, the
  default `max_layers`) and `MAX_LAYERS_LIMIT` (125, the most any image may
  have: Docker's limit).

MODULE.bazel declares a fleet with the module extension of
`@rules_pyimage//py:extensions.bzl` (below).

The rules the macros make for their internal targets, `pip_packages_aspect`
and the other providers are private (`//py/private`) and may change. What
wraps rules_oci lives under `//oci`; `//py` never loads rules_oci.
"""

load("//oci/private:py_image.bzl", _py_image = "py_image")
load(
    "//py:defs.bzl",
    _DEFAULT_MAX_LAYERS = "DEFAULT_MAX_LAYERS",
    _MAX_LAYERS_LIMIT = "MAX_LAYERS_LIMIT",
    _PyImageLayersInfo = "PyImageLayersInfo",
    _PyImagePlatformsInfo = "PyImagePlatformsInfo",
    _py_image_fleet = "py_image_fleet",
    _py_image_layers = "py_image_layers",
    _py_image_layers_rule = "py_image_layers_rule",
    _py_image_parts = "py_image_parts",
)

py_image = _py_image
py_image_fleet = _py_image_fleet
py_image_layers = _py_image_layers
py_image_layers_rule = _py_image_layers_rule
py_image_parts = _py_image_parts
PyImageLayersInfo = _PyImageLayersInfo
PyImagePlatformsInfo = _PyImagePlatformsInfo
DEFAULT_MAX_LAYERS = _DEFAULT_MAX_LAYERS
MAX_LAYERS_LIMIT = _MAX_LAYERS_LIMIT
