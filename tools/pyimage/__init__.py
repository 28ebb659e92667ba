"""pyimage: layer planning and layer/OCI-layout writing for rules_pyimage.

Standard library only: every module here runs inside Bazel actions with
whatever Python interpreter the toolchain provides. Imports only go down:

* :mod:`pyimage.cli` and ``__main__``: the command line, listing
  :mod:`pyimage.commands`, and :mod:`pyimage.worker` (Bazel's persistent
  worker protocol);
* :mod:`pyimage.commands`: argument parsing and file I/O only, the actions
  Bazel runs (``commands.actions``) apart from those people run
  (``commands.dev``); no command imports another;
* :mod:`pyimage.fleet`: one image, or a fleet of them, planned and merged
  (over the planner, the engine and the formats);
* :mod:`pyimage.formats`: the documents, read and written, nothing more
  (FLEET.json and the other inputs, plans and fleet locks, plan reports);
  :mod:`pyimage.engine`, the byte engine (tar format, package writer, merge
  and conflicts, OCI layout, path safety);
* :mod:`pyimage.planner`, the pure planner (with its benchmark metrics and
  baselines beside the core); :mod:`pyimage.jsonio` (every JSON read and
  written), :mod:`pyimage.fsutil` (outputs put in place whole, checked
  against inputs), :mod:`pyimage.text`, :mod:`pyimage.errors`.
"""

__all__ = ["PyimageError"]

from pyimage.errors import PyimageError
