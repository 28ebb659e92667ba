"""rules_pyimage's public API: everything users write, in one file.

```starlark
load("@rules_pyimage//oci:defs.bzl", "py_image", "py_image_fleet")
```

- `py_image`: a Python container image (wraps rules_oci's `oci_image`).
- `py_image_fleet`: one layer plan, kept in a lock file, for several
  `py_image`s.
- `py_image_layers` and its `PyImageLayersInfo`: the image without rules_oci's
  part, to finish it with another tool.
- `DEFAULT_MAX_LAYERS`, `MAX_LAYERS_LIMIT`: the default `max_layers`, and the
  most any image may have (Docker's limit).

The rules the macros make for their internal targets (`py_image_inputs`,
`py_image_plan`, the fleet's), `pip_packages_aspect` and the other providers
are private: they live in `//py/private` and `//oci/private` and may change.
The Starlark under `//py` never loads rules_oci; what wraps rules_oci lives
under `//oci`.
"""

load("//oci/private:py_image.bzl", _py_image = "py_image")

# //py/private is private to rules_pyimage, not to //py: //oci loads it too.
load("//py/private:image_common.bzl", _DEFAULT_MAX_LAYERS = "DEFAULT_MAX_LAYERS", _MAX_LAYERS_LIMIT = "MAX_LAYERS_LIMIT")  # buildifier: disable=bzl-visibility
load("//py/private:providers.bzl", _PyImageLayersInfo = "PyImageLayersInfo")  # buildifier: disable=bzl-visibility
load("//py/private:py_image_fleet.bzl", _py_image_fleet = "py_image_fleet")  # buildifier: disable=bzl-visibility
load("//py/private:py_image_layers.bzl", _py_image_layers = "py_image_layers")  # buildifier: disable=bzl-visibility

py_image = _py_image
py_image_fleet = _py_image_fleet
py_image_layers = _py_image_layers
PyImageLayersInfo = _PyImageLayersInfo
DEFAULT_MAX_LAYERS = _DEFAULT_MAX_LAYERS
MAX_LAYERS_LIMIT = _MAX_LAYERS_LIMIT
