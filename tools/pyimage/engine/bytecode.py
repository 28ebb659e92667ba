"""Precompiled bytecode for a layer: the ``__pycache__/*.pyc`` of its Python modules.

:func:`add_bytecode` takes a manifest and gives it back with one entry more
per ``.py`` file: ``<dir>/__pycache__/<name>.cpython-3XY.pyc``, what ``pip
install`` writes, so that the image imports without compiling (and can run
on a read-only root). The bytes depend on neither mtimes nor the sandbox:

* ``unchecked-hash`` invalidation (PEP 552): the header holds a hash of the
  source, not its mtime, and the interpreter trusts the file without
  reading the source again;
* the recorded source path (``co_filename``, tracebacks) is the module's
  path in the image (``/opt/pyimage/site-packages/six.py``), never the build
  machine's;
* compiled in a fresh interpreter (``-I -S``, ``PYTHONHASHSEED=0``), the
  files in sorted order: marshal's output depends on the interpreter's state
  (which objects are shared), so never in a long-lived process such as
  the persistent worker.

The interpreter must be of the image's minor version (bytecode differs
between minor versions and is the same on every CPU), checked: the one
given (an exec-platform interpreter, ``--python``), else the one running
pyimage. A file that does not compile (Python 2 code in a wheel, a
template named ``.py``) is left without bytecode and listed. Bytecode that
the manifest already holds (rules_python's ``precompile``) is replaced by
ours: one ``.pyc`` per module, always ours.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from pyimage.engine.package import Entry, Manifest
from pyimage.errors import PyimageError

VERSION_RE = re.compile(r"^3\.(\d+)$")

# Runs in the fresh interpreter: argv[1] is the minor version it must be;
# reads [[source, in-image path, output], ...] on stdin, writes the in-image
# paths that did not compile on stdout (or, exit 3, its own version).
_COMPILE = """
import json, py_compile, sys
if sys.version_info[:2] != (3, int(sys.argv[1])):
    print("%d.%d" % sys.version_info[:2])
    sys.exit(3)
failed = []
for src, dfile, out in json.load(sys.stdin):
    try:
        py_compile.compile(src, cfile=out, dfile=dfile, doraise=True, optimize=0,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except py_compile.PyCompileError:  # what compile() raised: listed, never fatal
        failed.append(dfile)
json.dump(failed, sys.stdout)
"""
#: What to set when no interpreter of the image's Python can compile.
FIX = (
    "set --@rules_pyimage//py:bytecode_interpreter to a py_runtime of that Python for the"
    " exec platform, or --@rules_pyimage//py:precompile=off"
)


@dataclass(frozen=True)
class Bytecode:
    """What :func:`add_bytecode` did: the version, and the modules left without bytecode."""

    python_version: str
    skipped: tuple[str, ...]


def parse_version(value: str, where: str) -> int:
    """The minor version of ``3.N``; anything else is refused naming ``where``."""
    match = VERSION_RE.match(value)
    if not match:
        raise PyimageError(f"{where}: {value!r} is not a Python version 3.N; give e.g. 3.11")
    return int(match.group(1))


def cache_name(path: str, minor: int) -> str:
    """Where a module's bytecode goes: ``a/b.py`` -> ``a/__pycache__/b.cpython-3N.pyc``."""
    folder, _, name = path.rpartition("/")
    pyc = f"__pycache__/{name[: -len('.py')]}.cpython-3{minor}.pyc"
    return f"{folder}/{pyc}" if folder else pyc


def _is_pycache(entry: Entry) -> bool:
    parts = entry.path.split("/")
    return (
        entry.kind == "file"
        and len(parts) >= 2
        and parts[-2] == "__pycache__"
        and parts[-1].endswith(".pyc")
    )


def add_bytecode(
    manifest: Manifest, python_version: str, workdir: Path, python: str | None = None
) -> tuple[Manifest, Bytecode]:
    """``manifest`` with the bytecode of its modules (compiled into ``workdir``); what was done.

    Compiled by ``python`` (default: the interpreter pyimage runs on), which
    must be of ``python_version``. Its files stay as they are; its
    ``__pycache__/*.pyc`` entries are dropped; one entry per module that
    compiled is added, its source in ``workdir``.
    """
    minor = parse_version(python_version, f"package {manifest.package}: --python-version")
    kept = [e for e in manifest.entries if not _is_pycache(e)]
    taken = {e.path for e in kept}
    # module's in-image path -> (its bytecode's path in the layer, where it is compiled to)
    jobs: dict[str, tuple[str, Path]] = {}
    for entry in sorted(kept, key=lambda e: e.path):
        pyc = cache_name(entry.path, minor) if entry.path.endswith(".py") else ""
        if entry.kind == "file" and pyc and pyc not in taken:
            jobs[entry.path] = (pyc, workdir / f"{len(jobs)}.pyc")
    sources = {e.path: e.src for e in kept}
    compile_jobs = [(str(sources[m]), m, out) for m, (_, out) in jobs.items()]
    failed = set(_compile(manifest.package, minor, python or sys.executable, compile_jobs))
    extra = [
        Entry(pyc, "file", src=out, executable=False)
        for module, (pyc, out) in jobs.items()
        if module not in failed
    ]
    result = replace(manifest, entries=(*kept, *extra))
    return result, Bytecode(python_version, tuple(sorted(failed)))


def _compile(package: str, minor: int, python: str, jobs: list[tuple[str, str, Path]]) -> list[str]:
    """Compile (source, image path, output) jobs in a fresh ``python``; the paths that failed."""
    payload = json.dumps([[src, "/" + path, str(out)] for src, path, out in jobs])
    env = {"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    try:
        proc = subprocess.run(
            [python, "-I", "-S", "-B", "-c", _COMPILE, str(minor)],
            input=payload,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    except OSError as err:
        raise PyimageError(
            f"package {package}: the interpreter {python} for its bytecode cannot run"
            f" ({err.strerror}); {FIX}"
        ) from err
    if proc.returncode == 3:
        raise PyimageError(
            f"package {package}: bytecode for Python 3.{minor} needs an interpreter of that"
            f" version, and {python} is {proc.stdout.strip()}; {FIX}"
        )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PyimageError(f"package {package}: compiling its bytecode failed ({last})")
    return [p.lstrip("/") for p in json.loads(proc.stdout)]
