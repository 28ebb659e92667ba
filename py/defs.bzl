"""rules_pyimage's rules_oci-free API: Python image layers, and fleets of images.

```starlark
load("@rules_pyimage//py:defs.bzl", "py_image_fleet", "py_image_layers")
```

Most users load `@rules_pyimage//oci:defs.bzl`, which re-exports all of this
and adds `py_image` (the image, with rules_oci). This file never loads
rules_oci.

- `py_image_layers` and its `PyImageLayersInfo`: an image's layers without
  rules_oci's part, to finish it with another tool; with `platforms`, each
  platform's (`PyImagePlatformsInfo`). `py_image_layers_rule` is the rule
  it makes per platform (its attributes are the macro's).
- `py_image_fleet`: one layer plan, kept in a lock file, for several images;
  MODULE.bazel declares it (`//py:extensions.bzl`) so that images follow it.
- `py_image_parts`: every target of a `py_image` but rules_oci's, for
  rulesets that wrap another image tool the way `py_image` wraps rules_oci.
- `DEFAULT_MAX_LAYERS`, `MAX_LAYERS_LIMIT`: the default `max_layers`, and the
  most any image may have (Docker's limit).
"""

load("//py/private:image_common.bzl", _DEFAULT_MAX_LAYERS = "DEFAULT_MAX_LAYERS", _MAX_LAYERS_LIMIT = "MAX_LAYERS_LIMIT")
load("//py/private:providers.bzl", _PyImageLayersInfo = "PyImageLayersInfo", _PyImagePlatformsInfo = "PyImagePlatformsInfo")
load("//py/private:py_image_fleet.bzl", _py_image_fleet = "py_image_fleet")
load("//py/private:py_image_layers.bzl", _py_image_layers = "py_image_layers", _py_image_layers_rule = "py_image_layers_rule")
load("//py/private:py_image_parts.bzl", _py_image_parts = "py_image_parts")

py_image_fleet = _py_image_fleet
py_image_layers = _py_image_layers
py_image_layers_rule = _py_image_layers_rule
py_image_parts = _py_image_parts
PyImageLayersInfo = _PyImageLayersInfo
PyImagePlatformsInfo = _PyImagePlatformsInfo
DEFAULT_MAX_LAYERS = _DEFAULT_MAX_LAYERS
MAX_LAYERS_LIMIT = _MAX_LAYERS_LIMIT
