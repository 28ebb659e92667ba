"""The subcommands of ``pyimage``: argument parsing and file I/O only.

Each module adds its subcommands with ``register(subparsers)``; :data:`ALL`
lists them in ``--help`` order. A command imports the layers below it (the
file formats, the engine, the planner), never another command.
"""

from pyimage.commands import engine, fleet, fleet_report, image, plan, report

#: Modules that add subcommands, in --help order.
ALL = (plan, report, engine, image, fleet, fleet_report)
