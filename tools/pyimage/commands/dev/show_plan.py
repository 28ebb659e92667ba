"""``pyimage show-plan``: an image's plan report as a table (``bazel run //pkg:image.plan``)."""

from __future__ import annotations

import argparse

from pyimage import jsonio
from pyimage.formats import plan_report


def _show_plan(args: argparse.Namespace) -> int:
    report = jsonio.load(args.plan, "plan report", "rebuild the image's `.plan` target")
    print(plan_report.render(plan_report.check(report, f"plan report {args.plan}")))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``show-plan``."""
    p = sub.add_parser("show-plan", help="print the plan report of an image as a table")
    p.add_argument("plan", metavar="PLAN.json", help="plan report written by `pyimage image`")
    p.set_defaults(func=_show_plan)
