"""The web app: a Django monolith's 131 packages."""

import django
from apps.report import report
from django.conf import settings

# Django apps among the packages read settings when imported.
settings.configure()
django.setup()

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
    {
        # Not the image's fault, and not a write: what these need is not in it.
        "redis": "needs async_timeout below Python 3.11.3; the lock was resolved"
        " for a newer 3.11 than the base's 3.11.2",
        "weasyprint": "needs the system's pango/gobject libraries; the e2e base has none",
    },
)
