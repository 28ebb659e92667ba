"""The api app: numpy, requests, pyyaml, six; prints its arguments and two variables."""

import json
import os
import sys

from apps.report import report

report("api", {"numpy": "numpy", "requests": "requests", "PyYAML": "yaml", "six": "six"})
print("argv " + json.dumps(sys.argv[1:]))
for name in ("EXTRA_PATH", "PRICE"):
    print(f"env {name} " + json.dumps(os.environ.get(name)))
