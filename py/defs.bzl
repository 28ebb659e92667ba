"""Public API of rules_pyimage's Python side.

```starlark
load("@rules_pyimage//py:defs.bzl", "pip_packages_aspect", "PyImagePackagesInfo", "PyPipPackageInfo")
```
"""

load("//py/private:pip_packages_aspect.bzl", _pip_packages_aspect = "pip_packages_aspect")
load("//py/private:providers.bzl", _PyImagePackagesInfo = "PyImagePackagesInfo", _PyPipPackageInfo = "PyPipPackageInfo")

pip_packages_aspect = _pip_packages_aspect
PyImagePackagesInfo = _PyImagePackagesInfo
PyPipPackageInfo = _PyPipPackageInfo
