"""greet_b: a shared first-party library (libs/greeting) of its own layer."""

from pathlib import Path

import libs.greeting as lib
from apps.report import report

print(f"greeting {lib.greeting()!r} from {lib.__file__} version {lib.GREETING_VERSION}")
print(f"runfiles greeting {lib.greeting_from_runfiles()!r}")
print(f"library bytecode {Path(lib.__spec__.cached).exists()}")
report("greet_b", {"six": "six"})
