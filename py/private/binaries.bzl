"""An image's binaries: one `binary`, or several (`binaries`, `default_binary`).

Every binary of an image gets its own app layer (its runfiles under
`/app/<name>.runfiles`) and launcher (`/app/<name>`); their pip packages are
the union of theirs, each package once, in the shared package layers. The
image's entrypoint runs the default binary.

The macros (`py_image`, `py_image_layers`) take `binary`, or `binaries` and
`default_binary`, and give their rules `binary` (the default) and `binaries`
(all of them, or none); the rules check what only analysis can see (one
name each, one version of each package, one Python).
"""

load("@rules_python//python:py_info.bzl", "PyInfo")
load("@rules_python//python:py_runtime_info.bzl", "PyRuntimeInfo")
load(":image_common.bzl", "shown_label")
load(":pip_packages_aspect.bzl", "pip_packages_aspect")
load(":providers.bzl", "PyImagePackagesInfo")

visibility(["//py/..."])

BINARIES_ATTRS = {
    "binaries": attr.label_list(
        aspects = [pip_packages_aspect],
        doc = "Every `py_binary` of the image, `binary` among them (empty: `binary` alone). Each gets its own app layer (`/app/<name>.runfiles`) and launcher (`/app/<name>`, which runs it with its own `PYTHONPATH` and `RUNFILES_DIR`); their pip packages are the union of theirs, each package once. Two binaries of one name, two versions of one package or two Pythons fail the build in one line naming both binaries.",
    ),
    "binary": attr.label(
        mandatory = True,
        aspects = [pip_packages_aspect],
        doc = "The `py_binary` the image's entrypoint runs (with `binaries`, the default one, which must be one of them).",
    ),
}

# buildifier: disable=unnamed-macro
def image_binaries(owner, binary, binaries, default_binary):
    """The rule attributes of an image's binaries, from a macro's arguments (checked at loading).

    Args:
        owner: the macro and target, for messages (`py_image //app:image`).
        binary: the one binary, or None.
        binaries: the list of binaries, or None.
        default_binary: the one of `binaries` the entrypoint runs, or None
            (the first).

    Returns:
        A dict: `binary` (the default), and `binaries` when given.
    """
    if binaries == None:
        if default_binary != None:
            fail("{}: default_binary picks one of `binaries`; with one `binary`, leave it out".format(owner))
        if binary == None:
            fail("{}: give the py_binary to run: `binary`, or `binaries` (and `default_binary`) for several".format(owner))
        return {"binary": binary}
    if binary != None:
        fail("{}: give `binary` (one py_binary) or `binaries` (several, with `default_binary`), not both".format(owner))
    if type(binaries) != "list" or not binaries:
        fail("{}: binaries must be a non-empty list of py_binary labels".format(owner))
    labels = {}
    for b in binaries:
        label = native.package_relative_label(b)
        if label in labels:
            fail("{}: binaries lists {} twice; list each once".format(owner, shown_label(label)))
        labels[label] = b
    chosen = binaries[0] if default_binary == None else default_binary
    if native.package_relative_label(chosen) not in labels:
        fail("{}: default_binary {} is not one of `binaries` ({}); name one of them".format(
            owner,
            chosen,
            ", ".join([shown_label(label) for label in labels]),
        ))
    return {"binary": chosen, "binaries": binaries}

def checked_binaries(ctx):
    """The image's binaries, the default first, each checked to be a py_binary; fails on a clash.

    Args:
        ctx: the context of a rule with `BINARIES_ATTRS`.

    Returns:
        list of Target.
    """
    default = ctx.attr.binary
    others = [b for b in ctx.attr.binaries if b.label != default.label]
    if ctx.attr.binaries and len(others) == len(ctx.attr.binaries):
        fail("{}: binary {} is not one of `binaries`; list it there too (it is the one the entrypoint runs)".format(shown_label(ctx.label), shown_label(default.label)))
    out = [default] + others
    names = {}
    for b in out:
        _packages_of(b)
        name = b.label.name
        if name in names:
            fail("{}: binaries {} and {} have one name, {}: each binary's files go to /app/<name>.runfiles; rename one of them".format(shown_label(ctx.label), shown_label(names[name]), shown_label(b.label), name))
        names[name] = b.label
    _check_one_python(ctx, out)
    return out

def _packages_of(binary):
    """The PyImagePackagesInfo of `binary`; fails unless it is a py_binary."""
    if PyInfo not in binary or not binary[DefaultInfo].files_to_run.executable:
        fail("binary {} is not a py_binary (it gives no PyInfo or is not executable); pass a py_binary".format(shown_label(binary.label)))
    info = binary[PyImagePackagesInfo]
    if info.main == None:
        fail("binary {} is not a py_binary; pass a py_binary".format(shown_label(binary.label)))
    return info

def _python_of(binary):
    """What names the Python a binary runs on (its runtime's interpreter), or None when it gives no runtime."""
    if PyRuntimeInfo not in binary:
        return None
    runtime = binary[PyRuntimeInfo]
    return runtime.interpreter.path if runtime.interpreter else runtime.interpreter_path

def _check_one_python(ctx, binaries):
    seen = None
    for b in binaries:
        python = _python_of(b)
        if python == None:
            continue
        if seen and seen[1] != python:
            fail("{}: binaries {} and {} run on two Pythons ({} and {}); an image has one interpreter: build both for one Python, or put them in two images".format(shown_label(ctx.label), shown_label(seen[0]), shown_label(b.label), seen[1], python))
        seen = seen or (b.label, python)

def _package_modules(p):
    """The top-level names a pip package installs (`yaml`, `_yaml`), from its files."""
    root = "/".join([part for part in [p.label.workspace_root, p.label.package, p.import_root] if part]) + "/"
    out = {}
    for f in p.files.to_list():
        rel = f.path[len(f.root.path) + 1:] if f.root.path else f.path
        if not rel.startswith(root):
            continue
        top = rel[len(root):].split("/")[0]
        if top.endswith(".dist-info") or top.endswith(".data") or top in ("__pycache__", "__init__.py"):
            continue
        out[top.split(".")[0]] = None
    return out

def _check_library_modules(ctx, libraries, packages):
    """Fails when a library's top-level module is also a pip package's: the package's would be imported."""
    installed = {}
    for p in packages:
        for name in _package_modules(p):
            installed.setdefault(name, p.id)
    for lib in libraries:
        for name, root in lib.modules:
            if name in installed:
                fail("{}: library {} gives the module `{}` (import root {}), which pip package {} installs too; Python would import the package's (its folder comes first on PYTHONPATH): rename the library's module, or drop the package".format(
                    shown_label(ctx.label),
                    shown_label(lib.label),
                    name,
                    root,
                    installed[name],
                ))

def image_packages(ctx, binaries):
    """The pip packages of an image's binaries: the union of theirs, each package once.

    Fails when two binaries need two versions of one package, or two builds
    of it (another pip hub, another configuration): an image's packages
    share one folder.

    Args:
        ctx: the rule context, for messages.
        binaries: what `checked_binaries` gives.

    Returns:
        struct(packages: list of PyPipPackageInfo, by id; package_files: depset
        of their files; libraries: list of PyImageLibraryInfo, by label: the
        first-party libraries that are layers, each once).
    """
    libraries = {}
    for b in binaries:
        for lib in b[PyImagePackagesInfo].libraries.to_list():
            seen = libraries.setdefault(str(lib.label), lib)
            if seen.blob != lib.blob:
                fail("{}: library {} is built twice (two configurations); build every binary in one".format(shown_label(ctx.label), shown_label(lib.label)))
    held = {}  # name -> (PyPipPackageInfo, the binary's label)
    for b in binaries:
        for p in b[PyImagePackagesInfo].packages.to_list():
            seen = held.get(p.name)
            if seen == None:
                held[p.name] = (p, b.label)
                continue
            q, other = seen
            one = other == b.label
            who = "binary {}".format(shown_label(b.label)) if one else "binaries {} and {}".format(shown_label(other), shown_label(b.label))
            if q.id != p.id:
                fail("{}: {} {} two versions of package {} ({} and {}); an image holds one version of each package: pin one for {}, or put them in two images".format(shown_label(ctx.label), who, "needs" if one else "need", p.name, q.version, p.version, "all its deps" if one else "both"))
            if q.label != p.label or q.blob != p.blob:
                fail("{}: {} {} package {} from two builds ({} and {}); an image holds one build of each package: take it from one pip hub in one configuration".format(shown_label(ctx.label), who, "takes" if one else "take", p.id, shown_label(q.label), shown_label(p.label)))
    packages = sorted([p for p, _ in held.values()], key = lambda p: p.id)
    if libraries:
        _check_library_modules(ctx, libraries.values(), packages)
    return struct(
        packages = packages,
        package_files = depset(transitive = [b[PyImagePackagesInfo].package_files for b in binaries]),
        libraries = [libraries[k] for k in sorted(libraries)],
    )
