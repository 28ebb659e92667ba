"""The multiarch app: numpy, pyyaml (C extensions), certifi, idna and six for its platform;
prints the machine."""

import platform

from apps.report import report

print("machine " + platform.machine())
report(
    "multiarch",
    {"certifi": "certifi", "idna": "idna", "numpy": "numpy", "PyYAML": "yaml", "six": "six"},
)
