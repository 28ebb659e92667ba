"""Shared by the e2e apps: prints the version and location of each package."""

import sys
from importlib import import_module, metadata


def report(app: str, modules: dict[str, str]) -> None:
    """Import each module and print `dist==version from path`, one per line."""
    print(f"app {app} on python {sys.version_info[0]}.{sys.version_info[1]}")
    for dist, module in sorted(modules.items()):
        mod = import_module(module)
        print(f"{dist}=={metadata.version(dist)} from {mod.__file__}")
