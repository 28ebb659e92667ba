"""rules_pyimage's module extension: the fleets whose lock files Bazel reads.

```starlark
# MODULE.bazel
pyimage = use_extension("@rules_pyimage//py:extensions.bzl", "pyimage")
pyimage.fleet(fleet = "//:fleet", lock = "//:fleet.lock.json")
```

See docs/guide.md ("A fleet").
"""

load("//py/private:fleet_extension.bzl", _pyimage = "pyimage")

pyimage = _pyimage
