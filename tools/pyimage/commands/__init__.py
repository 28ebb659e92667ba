"""The subcommands of ``pyimage``: argument parsing and file I/O only.

Each module adds its subcommands with ``register(subparsers)``. The
:data:`ACTIONS` are what rules_pyimage's Bazel actions run; :data:`DEV`
are for people (the planner's contract with outside benchmarks, reports,
the engine's parts by hand). A command imports the rooms below it (the file
formats, the fleet, the engine, the planner), never another command.
"""

from pyimage.commands.actions import fleet, image, layers
from pyimage.commands.dev import layers as dev_layers
from pyimage.commands.dev import plan, report, rollout, show_plan

#: Modules whose subcommands Bazel's actions run, in --help order.
ACTIONS = (layers, image, fleet)
#: Modules whose subcommands people run, in --help order.
DEV = (plan, report, rollout, show_plan, dev_layers)
