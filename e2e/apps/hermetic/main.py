"""The hermetic app: its interpreter comes from the build, not the base image."""

import sys

from apps.report import report

report("hermetic", {"six": "six", "idna": "idna"})
print("interpreter", sys.executable)
