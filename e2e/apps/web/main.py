"""The web app: a Django monolith's 131 packages."""

from apps.report import report

report(
    "web",
    {
        "Django": "django",
        "numpy": "numpy",
        "pandas": "pandas",
        "celery": "celery",
        "cryptography": "cryptography",
        "pillow": "PIL",
        "six": "six",
    },
)
