"""The arm64 app: numpy, pyyaml (C extensions) and six, from aarch64 wheels; prints its machine."""

import platform

from apps.report import report

print("machine " + platform.machine())
report("arm64", {"numpy": "numpy", "PyYAML": "yaml", "six": "six"})
