"""Prints a table of the packages it imported and a human-readable size."""

import sys
from importlib import metadata

import humanize
import tabulate


def main() -> int:
    rows = [(name, metadata.version(name)) for name in ("humanize", "tabulate")]
    print(tabulate.tabulate(rows, headers=["package", "version"]))
    print("torch wheel:", humanize.naturalsize(699_311_212))
    print("python:", ".".join(map(str, sys.version_info[:3])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
