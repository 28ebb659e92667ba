"""`py_layers`: the three-layer baseline of e2e/harness/bench_build.py.

What a hand-written rule (or three `pkg_tar`s) makes of a `py_binary`, with
no aspect, no planner and no fleet: three deterministic gzip tars, one
action each, every input named at analysis time.

- `<name>.interpreter.tar.gz`: the Python toolchain's files, when it brings
  them (a hermetic toolchain), under `opt/python/`. For a toolchain that names
  its interpreter by path (the e2e apps on `@base_python`, whose base image
  has python3) it is an empty tar: the base image's python runs the app.
- `<name>.site-packages.tar.gz`: every runfile of the binary in a pip
  repository (a repository whose canonical name ends in `<pip_prefix>...`,
  e.g. `rules_python~~pip~pypi_six`), where the runfiles tree has it.
- `<name>.app.tar.gz`: the rest of the runfiles (the app's own files, other
  repositories', Bazel's empty `__init__.py`s outside the pip repositories,
  the repository mapping) and the launcher, under `app/`.

Members are sorted, owned by 0:0, dated 1970 (gzip header too), mode 0755
for executable sources and 0644 otherwise, parents listed as 0755 folders.
The tars are written by a small standard-library script run with the Python
toolchain's interpreter. Runfiles symlinks are copied as the files they point to.
"""

_PY_TOOLCHAIN = "@bazel_tools//tools/python:toolchain_type"

_INTERPRETER_ROOT = "opt/python"

# argv: OUT MANIFEST; MANIFEST lines: `dest<TAB>src` (no src: an empty file).
_WRITER = """
import gzip
import os
import sys
import tarfile

out, manifest = sys.argv[1:]
files = {}
with open(manifest, encoding="utf-8") as f:
    for line in f.read().splitlines():
        dest, src = line.split("\\t")
        files[dest] = src


def info(name, kind, mode, size=0):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.size, ti.mtime = kind, mode, size, 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti


with open(out, "wb") as raw:
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            folders = set()
            for dest in sorted(files):
                parts = dest.split("/")
                for i in range(1, len(parts)):
                    folder = "/".join(parts[:i])
                    if folder not in folders:
                        folders.add(folder)
                        tar.addfile(info(folder, tarfile.DIRTYPE, 0o755))
                src = files[dest]
                if not src:
                    tar.addfile(info(dest, tarfile.REGTYPE, 0o644))
                    continue
                st = os.stat(src)
                mode = 0o755 if st.st_mode & 0o100 else 0o644
                with open(src, "rb") as data:
                    tar.addfile(info(dest, tarfile.REGTYPE, mode, st.st_size), data)
"""

def _runfiles_path(workspace, short_path):
    """`<repo>/<path>` in a runfiles tree, from a short path or an empty file's name."""
    for prefix in ("../", "external/"):
        if short_path.startswith(prefix):
            return short_path[len(prefix):]
    return workspace + "/" + short_path

def _in_pip_repo(path, pip_prefix):
    """Whether a runfiles path is in a pip repository (by its canonical name's last part)."""
    repo = path.split("/")[0]
    return repo.replace("+", "~").split("~")[-1].startswith(pip_prefix)

def _python(ctx):
    """(interpreter command, its files, the runtime's files for the image or [])."""
    runtime = ctx.toolchains[_PY_TOOLCHAIN].py3_runtime
    if runtime.interpreter:
        return runtime.interpreter.path, runtime.files, runtime.files.to_list()
    return runtime.interpreter_path, depset(), []

def _tar(ctx, kind, entries, python, python_files, writer):
    """One action: the entries (dest -> File or None) as `<name>.<kind>.tar.gz`."""
    out = ctx.actions.declare_file("{}.{}.tar.gz".format(ctx.label.name, kind))
    manifest = ctx.actions.declare_file("{}.{}.manifest".format(ctx.label.name, kind))
    lines = ["{}\t{}".format(dest, f.path if f else "") for dest, f in sorted(entries.items())]
    ctx.actions.write(manifest, "\n".join(lines) + "\n" if lines else "")
    ctx.actions.run(
        executable = python,
        arguments = [writer.path, out.path, manifest.path],
        inputs = depset([writer, manifest] + [f for f in entries.values() if f], transitive = [python_files]),
        outputs = [out],
        mnemonic = "BaselineLayerTar",
        progress_message = "Writing the {} tar of %{{label}}".format(kind),
    )
    return out

def _py_layers_impl(ctx):
    python, python_files, runtime_files = _python(ctx)
    info = ctx.attr.binary[DefaultInfo]
    runfiles = info.default_runfiles
    ws = ctx.workspace_name
    root = "app/{}.runfiles".format(ctx.attr.binary.label.name)
    interpreter = {_INTERPRETER_ROOT + "/" + _runfiles_path(ws, f.short_path): f for f in runtime_files}
    skip = {f: None for f in runtime_files}
    site = {}
    app = {"app/" + ctx.attr.binary.label.name: info.files_to_run.executable}

    def add(path, f):
        if _in_pip_repo(path, ctx.attr.pip_prefix):
            site[root + "/" + path] = f
        else:
            app[root + "/" + path] = f

    for f in runfiles.files.to_list():
        if f not in skip:
            add(_runfiles_path(ws, f.short_path), f)
    for link in runfiles.symlinks.to_list():
        add(ws + "/" + link.path, link.target_file)
    for link in runfiles.root_symlinks.to_list():
        add(link.path, link.target_file)
    for name in runfiles.empty_filenames.to_list():
        add(_runfiles_path(ws, name), None)
    if info.files_to_run.repo_mapping_manifest:
        app[root + "/_repo_mapping"] = info.files_to_run.repo_mapping_manifest

    writer = ctx.actions.declare_file(ctx.label.name + ".write_tar.py")
    ctx.actions.write(writer, _WRITER)
    tars = [
        _tar(ctx, kind, entries, python, python_files, writer)
        for kind, entries in (("interpreter", interpreter), ("site-packages", site), ("app", app))
    ]
    return [DefaultInfo(files = depset(tars))]

py_layers = rule(
    implementation = _py_layers_impl,
    doc = "A `py_binary` as interpreter, site-packages and app tars: the baseline of e2e/harness/bench_build.py.",
    attrs = {
        "binary": attr.label(mandatory = True, executable = True, cfg = "target", doc = "The `py_binary`."),
        "pip_prefix": attr.string(
            default = "pypi_",
            doc = "How the last part of a pip repository's canonical name starts (`pypi_six`).",
        ),
    },
    toolchains = [_PY_TOOLCHAIN],
)
