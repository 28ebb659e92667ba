"""The worker app: numpy, pandas, celery."""

from apps.report import report

report("worker", {"numpy": "numpy", "pandas": "pandas", "celery": "celery", "six": "six"})
