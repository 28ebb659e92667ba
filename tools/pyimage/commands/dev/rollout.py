"""``pyimage fleet-rollout``: what rolling out a fleet's state costs where an older one runs.

::

    pyimage fleet-rollout --state NEW.json --since OLD.json [--json FILE]
                          [--markdown FILE] [--max-pull BYTES] [--max-new BYTES]

``bazel run //:fleet.report -- --since OLD.json ...`` runs it with the state
the build wrote (:mod:`pyimage.fleet.rollout`). Prints the text report; writes
JSON and a Markdown table for a review comment when asked. Exits 1, naming
each, when an image would make a node with its previous version pull more
than ``--max-pull``, or the registry store more than ``--max-new``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyimage import jsonio
from pyimage.fleet import rollout
from pyimage.formats import state
from pyimage.fsutil import atomic_output, check_paths


def _bytes(text: str) -> int:
    try:
        return rollout.parse_bytes(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _fleet_rollout(args: argparse.Namespace) -> int:
    check_paths(
        {"--json": args.json, "--markdown": args.markdown},
        {"--state": args.state, "--since": args.since},
    )
    new = state.read(args.state, None, "rebuild the fleet's .report")
    fix = (
        f"give a state of {new.fleet} that `bazel build {new.fleet}.report` wrote (its .state.json)"
    )
    made = rollout.compare(state.read(args.since, new.fleet, fix), new)
    for path, text in ((args.json, jsonio.dumps(rollout.to_json(made))),
                       (args.markdown, rollout.markdown(made) + "\n")):  # fmt: skip
        if path:
            with atomic_output(Path(path)) as tmp:
                tmp.write_text(text, encoding="utf-8")
    sys.stdout.write(rollout.render(made) + "\n")
    over = rollout.over_budget(made, args.max_pull, args.max_new)
    for line in over:
        print(f"pyimage: over budget: {line}", file=sys.stderr)
    return 1 if over else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fleet-rollout``."""
    p = sub.add_parser(
        "fleet-rollout", help="the bytes nodes pull and the registry stores for a fleet's change"
    )
    p.add_argument("--state", required=True, metavar="NEW.json", help="the fleet's state now")
    p.add_argument("--since", required=True, metavar="OLD.json", help="the state rolled out now")
    p.add_argument("--json", metavar="FILE", help="also write the rollout as JSON")
    p.add_argument("--markdown", metavar="FILE", help="also write a table for a review comment")
    p.add_argument("--max-pull", type=_bytes, metavar="BYTES", help="budget per image (ours)")
    p.add_argument("--max-new", type=_bytes, metavar="BYTES", help="budget of new registry bytes")
    p.set_defaults(func=_fleet_rollout)
