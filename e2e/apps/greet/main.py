"""greet_a and greet_b: one main file, two apps sharing a first-party library of its own layer."""

import os
from pathlib import Path

import libs.greeting as lib
from apps.report import report

app = Path(os.environ["RUNFILES_DIR"]).name.removesuffix(".runfiles")
print(f"greeting {lib.greeting()!r} from {lib.__file__} version {lib.GREETING_VERSION}")
print(f"runfiles greeting {lib.greeting_from_runfiles()!r}")
print(f"library bytecode {Path(lib.__spec__.cached).exists()}")
report(app, {"six": "six"})
