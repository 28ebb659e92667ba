"""pyimage: layer planning and layer/OCI-layout writing for rules_pyimage.

Standard library only: every module here runs inside Bazel actions with
whatever Python interpreter the toolchain provides. Imports only go down:

* :mod:`pyimage.cli` and ``__main__``: the command line, listing
  :mod:`pyimage.commands`;
* :mod:`pyimage.commands`: one module per subcommand family, argument parsing
  and file I/O only; no command imports another;
* the file formats: :mod:`pyimage.inputs` (what commands are handed),
  :mod:`pyimage.lock` (plans and fleet locks), :mod:`pyimage.text` (reports);
* :mod:`pyimage.engine`, the byte engine (tar format, package writer, merge
  and conflicts, OCI layout, path safety), and :mod:`pyimage.planner`, the
  pure planner (with its benchmark metrics and baselines beside the core);
* the ground floor: :mod:`pyimage.jsonio` (every JSON read and written),
  :mod:`pyimage.fsutil` (outputs put in place whole), :mod:`pyimage.errors`.
"""

__all__ = ["PyimageError"]

from pyimage.errors import PyimageError
