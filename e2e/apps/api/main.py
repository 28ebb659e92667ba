"""The api app: numpy, requests, pyyaml, six."""

from apps.report import report

report("api", {"numpy": "numpy", "requests": "requests", "PyYAML": "yaml", "six": "six"})
