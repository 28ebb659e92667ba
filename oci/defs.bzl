"""Public API of rules_pyimage's image side (rules_oci).

```starlark
load("@rules_pyimage//oci:defs.bzl", "py_image")
```
"""

load("//oci/private:py_image.bzl", _py_image = "py_image")

py_image = _py_image
