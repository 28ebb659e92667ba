"""The apps over rules_python's pip target shapes (shapes.bzl): the same seven packages each."""

import sys

import greenlet
from apps.report import report

report(
    sys.argv[1],
    {
        "greenlet": "greenlet",
        "jaraco.classes": "jaraco.classes",
        "jaraco.functools": "jaraco.functools",
        "jupyterlab_pygments": "jupyterlab_pygments",
        "more-itertools": "more_itertools",
        "Pygments": "pygments",
        "typing_extensions": "typing_extensions",
    },
)
# greenlet's C extension runs; jaraco/ is a namespace package of two dists.
print("greenlet switch " + str(greenlet.greenlet(lambda: 42).switch()))
print("jaraco " + ",".join(sorted(__import__("jaraco").__path__)))
