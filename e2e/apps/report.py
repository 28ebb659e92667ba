"""Shared by the e2e apps: prints the version and location of each package.

Then imports every top-level module of the image's package folder (every
package the image holds) and says how many imported: the e2e tests run the
images as production does (read-only root, a user the image does not have),
where nothing can be written at start.
"""

import os
import sys
from importlib import import_module, metadata
from pathlib import Path

PACKAGES = Path("/opt/pyimage/site-packages")
# Suffixes of extension modules at the top of site-packages (`_cffi_backend.cpython-311-...so`).
EXTENSION = ".so"


def top_level_modules(folder: Path) -> list[str]:
    """The importable names at the top of ``folder``: packages, modules, extensions."""
    names = set()
    for path in folder.iterdir():
        entry = path.name
        if path.is_dir():
            name = entry
        elif entry.endswith(".py"):
            name = entry[: -len(".py")]
        elif entry.endswith(EXTENSION):
            name = entry.split(".", 1)[0]
        else:
            continue
        if name.isidentifier() and name != "__pycache__":
            names.add(name)
    return sorted(names)


def import_everything(not_importable: dict[str, str], folder: Path = PACKAGES) -> None:
    """Import each top-level module of ``folder``; one line of totals, one per failure.

    ``not_importable`` names the modules that cannot import in this image
    whatever the image's layers hold, with the reason; each is printed, not
    imported.
    """
    if not folder.is_dir():
        print(f"no package folder {folder}")
        return
    names = top_level_modules(folder)
    for name, reason in sorted(not_importable.items()):
        print(f"not imported: {name}: {reason}")
        names.remove(name)
    failed = []
    for name in names:
        try:
            import_module(name)
        except Exception as err:  # every failure is reported, none stops the others
            failed.append(f"import failed: {name}: {type(err).__name__}: {err}".splitlines()[0])
    print(f"imported {len(names) - len(failed)} of {len(names)} top-level modules of {folder}")
    for line in failed:
        print(line)
    # Which of the loaded modules of the folder came with their bytecode.
    specs = [getattr(m, "__spec__", None) for m in list(sys.modules.values())]
    under = [
        s
        for s in specs
        if s is not None
        and isinstance(s.origin, str)
        and s.origin.startswith(f"{folder}/")
        and s.origin.endswith(".py")
    ]
    cached = [s for s in under if s.cached and Path(s.cached).is_file()]
    print(f"bytecode for {len(cached)} of {len(under)} loaded modules of {folder}")


def seconds_since_start() -> float:
    """Wall time since this process started (Linux: /proc; 10 ms resolution)."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    return float(Path("/proc/uptime").read_text().split()[0]) - started


def report(app: str, modules: dict[str, str], not_importable: dict[str, str] | None = None) -> None:
    """Import each module and print `dist==version from path`, one per line; then all.

    Ends with the time from the process's start to the last import (the
    interpreter's start included), for e2e/harness/bench_startup.py.
    """
    print(f"app {app} on python {sys.version_info[0]}.{sys.version_info[1]}")
    # Where its code came from, and its runfiles: its own in an image of several binaries.
    print(f"code {__file__} runfiles {os.environ.get('RUNFILES_DIR')}")
    for dist, module in sorted(modules.items()):
        mod = import_module(module)
        print(f"{dist}=={metadata.version(dist)} from {mod.__file__}")
    import_everything(not_importable or {})
    print(f"imports done {seconds_since_start():.3f} s after the start")
