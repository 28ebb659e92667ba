"""The multiarch app: numpy, pyyaml (C extensions) and six for its platform; prints the machine."""

import platform

from apps.report import report

print("machine " + platform.machine())
report("multiarch", {"numpy": "numpy", "PyYAML": "yaml", "six": "six"})
