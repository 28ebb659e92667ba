"""`pip_packages_aspect`: finds the pip packages a py_binary depends on, and its first-party libraries of their own layers."""

load("@rules_python//python:py_info.bzl", "PyInfo")
load(":bytecode.bzl", "BYTECODE_ATTRS", "bytecode_version")
load(":compression.bzl", "COMPRESSIONS", "ZSTD_TOOLCHAIN_OPTIONAL", "compression_of")
load(":image_common.bzl", "PY_TOOLCHAIN", "shown_label", "toolchain_runtime")
load(":image_paths.bzl", "LIBRARIES_ROOT", "SITE_PACKAGES", "runfiles_path")
load(":layer_action.bzl", "write_layer")
load(":providers.bzl", "PyImageLibraryInfo", "PyImagePackagesInfo", "PyPipPackageInfo")
load(":pyimage_action.bzl", "PYIMAGE_TOOL")

visibility(["//py/..."])

_NAME_TAG = "pypi_name="
_VERSION_TAG = "pypi_version="

# The tag that makes a first-party py_library a layer of its own.
LIBRARY_LAYER_TAG = "pyimage_layer"

# Attributes the aspect follows: py_* deps, and `actual` for the aliases and
# hubs rules_python generates (`@pypi//six` -> `@pypi_six//:pkg`).
_ATTR_ASPECTS = ["deps", "actual"]

def pip_package_tags(tags):
    """The (name, version) of a pip package from its tags, or None.

    Args:
        tags: the target's tags.

    Returns:
        A (name, version) tuple when both tags are present, else None.
    """
    name = None
    version = None
    for tag in tags:
        if tag.startswith(_NAME_TAG):
            name = tag[len(_NAME_TAG):]
        elif tag.startswith(_VERSION_TAG):
            version = tag[len(_VERSION_TAG):]
    if name and version:
        return (name, version)
    if name or version:
        fail("pip package tags are incomplete: a target has {} but not {}; rules_python sets both".format(
            _NAME_TAG if name else _VERSION_TAG,
            _VERSION_TAG if name else _NAME_TAG,
        ))
    return None

def normalized_name(name):
    """The PEP 503 normalised form of a distribution name: `PyYAML` -> `pyyaml`, `zope.interface` -> `zope-interface`.

    rules_python writes the `pypi_name=` tag canonical up to 1.7 and as the
    wheel's METADATA spells it from 1.8 (pipstar); ids must not depend on it.

    Args:
        name: a distribution name.

    Returns:
        The name lowercased, each run of `-`, `_` and `.` replaced by one `-`.
    """
    out = ""
    in_run = False
    for c in name.lower().elems():
        if c in "-_.":
            if not in_run:
                out += "-"
            in_run = True
        else:
            out += c
            in_run = False
    return out

def _deps_of(ctx, attrs = _ATTR_ASPECTS):
    deps = []
    for attr in attrs:
        value = getattr(ctx.rule.attr, attr, None)
        if value == None:
            continue
        if type(value) != "list":
            value = [value]
        deps.extend([d for d in value if PyImagePackagesInfo in d])
    return deps

# The files of a `*.dist-info` folder that the installer writes (PEP 376,
# PEP 627), which differ between rules_python versions for the same wheel.
_INSTALL_RECORDS = ["INSTALLER", "RECORD"]

def _manifest_entries(import_dir, files):
    """(path in the image, source) of each file under the package's import root."""
    prefix = import_dir + "/"
    entries = []
    for f in files:
        rel = f.path[len(f.root.path) + 1:] if f.root.path else f.path
        if not rel.startswith(prefix):
            # rules_python 2.x adds the wheel's `bin/` (console scripts,
            # written for its venvs), `data/` and `include/` to the library's
            # data: not importable, left out (see docs/guide.md).
            continue
        rel = rel[len(prefix):]
        if rel == "__init__.py":
            # rules_python 0.22 writes a namespace shim as site-packages/__init__.py
            # in every package; it belongs to no distribution.
            continue
        parts = rel.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in _INSTALL_RECORDS:
            # Written by the installer, not the wheel, and so by each
            # rules_python otherwise: INSTALLER names it (0.22
            # `https://github.com/bazelbuild/rules_python`, 1.x
            # `.../bazel-contrib/rules_python`, 2.x `...#pipstar`), RECORD
            # only 2.x adds. Left out, a package's layer is the same bytes
            # whatever rules_python made it, and a fleet lock stays current
            # across a rules_python upgrade.
            continue
        entries.append({"path": SITE_PACKAGES + "/" + rel, "src": f.path})
    return entries

def _own_files(ctx):
    """A target's own files: its `srcs` and `data` (not its deps')."""
    return depset(
        transitive = [
            depset(getattr(ctx.rule.files, "srcs", [])),
            depset(getattr(ctx.rule.files, "data", [])),
        ],
    )

def _package_info(target, ctx, name, version):
    imports = getattr(ctx.rule.attr, "imports", [])
    if len(imports) != 1:
        fail("pip package {}=={} ({}): expected one `imports` entry (rules_python sets `site-packages`), got {}".format(
            name,
            version,
            target.label,
            imports,
        ))
    package_id = "{}=={}".format(name, version)
    files = _own_files(ctx)
    import_dir = "/".join([p for p in [target.label.workspace_root, target.label.package, imports[0]] if p])
    compression = ctx.attr.compression
    layer = write_layer(
        ctx,
        # An image of each compression may hold the package: one blob each.
        prefix = target.label.name + (".pyimage/layer." if compression == "gzip" else ".pyimage/{}/layer.".format(compression)),
        package = package_id,
        entries = _manifest_entries(import_dir, files.to_list()),
        inputs = files,
        mnemonic = "PyImagePackageLayer",
        progress_message = "Writing the layer of pip package {} (%{{label}})".format(package_id),
        bytecode = bytecode_version(ctx, toolchain_runtime(ctx)),
        compression = compression_of(ctx, compression),
        drop_rules_python_shims = True,
    )
    return PyPipPackageInfo(
        name = name,
        version = version,
        id = package_id,
        label = target.label,
        import_root = imports[0],
        files = files,
        blob = layer.blob,
        descriptor = layer.descriptor,
    )

def _library_info(target, ctx):
    """A first-party library's layer: its own files (`srcs`, `data`) under LIBRARIES_ROOT.

    The layer depends on those files only: an edit of the library rewrites
    it, and no app layer (which only links to its paths).
    """
    if PyInfo not in target:
        fail("{}: tagged {} but not a py_library; tag the py_library whose files should be a layer".format(target.label, LIBRARY_LAYER_TAG))
    files = _own_files(ctx)
    compression = ctx.attr.compression
    layer = write_layer(
        ctx,
        prefix = target.label.name + (".pyimage/library." if compression == "gzip" else ".pyimage/{}/library.".format(compression)),
        package = "library:" + shown_label(target.label),
        entries = [{"path": library_path(ctx, f), "src": f.path} for f in files.to_list()],
        inputs = files,
        mnemonic = "PyImageLibraryLayer",
        progress_message = "Writing the layer of library %{label}",
        bytecode = bytecode_version(ctx, toolchain_runtime(ctx)),
        compression = compression_of(ctx, compression),
    )
    return PyImageLibraryInfo(
        label = target.label,
        files = files,
        blob = layer.blob,
        descriptor = layer.descriptor,
        modules = _top_modules(ctx, target, files.to_list()),
    )

def _top_modules(ctx, target, files):
    """The top-level modules a library's Python files give, each with its import root.

    Its repository's root is on `sys.path` (`libs.greeting`), and so is each
    folder of its `imports` (`greeting`).
    """
    repo = target.label.workspace_name or ctx.workspace_name
    roots = [repo] + ["/".join([p for p in [repo, target.label.package, imp] if p]) for imp in getattr(ctx.rule.attr, "imports", [])]
    out = {}
    for f in files:
        path = runfiles_path(ctx, f)
        if not path.endswith(".py"):
            continue
        for root in roots:
            if path.startswith(root + "/"):
                out.setdefault(path[len(root) + 1:].split("/")[0].removesuffix(".py"), root)
    return tuple(sorted(out.items()))

def library_path(ctx, f):
    """Where a file of a library layer is in the image: LIBRARIES_ROOT/<its runfiles path>.

    Args:
        ctx: a rule or aspect context (for the main repository's name).
        f: a File of the library.

    Returns:
        The path, without a leading `/`.
    """
    return LIBRARIES_ROOT + "/" + runfiles_path(ctx, f)

def _is_wrapper(target, ctx, package_id, deps):
    """Whether a tagged target only wraps the one holding the package's files.

    rules_python 2.x tags both `:srcs` (the real py_library, with `imports`)
    and `:pkg` (no `imports`, `deps` on `:srcs`): the package is `:srcs`'.
    """
    if getattr(ctx.rule.attr, "imports", []):
        return False
    for d in deps:
        held = d[PyImagePackagesInfo].package
        if held and held.id == package_id:
            return True
    fail("pip package {} ({}): it is tagged but has no `imports` and no dependency holding the package's files (as rules_python 2.x's `:srcs`); rules_pyimage cannot tell where its files are".format(package_id, target.label))

def _entry(ctx, tags, package, deps):
    """The package a target stands for: its own, a wrapper's, or an alias's (`actual`)."""
    if package:
        return package
    if tags:
        # 2.x's tagged wrapper `:pkg`: the package of its `:srcs` (checked by _is_wrapper).
        wanted = "{}=={}".format(normalized_name(tags[0]), tags[1])
        held = [d[PyImagePackagesInfo].entry for d in deps if d[PyImagePackagesInfo].entry]
        return [p for p in held if p.id == wanted][0]
    actual = _deps_of(ctx, ["actual"])
    return actual[0][PyImagePackagesInfo].entry if len(actual) == 1 else None

def _pip_packages_aspect_impl(target, ctx):
    deps = _deps_of(ctx)
    tags = pip_package_tags(ctx.rule.attr.tags)
    package = None
    if tags:
        name = normalized_name(tags[0])
        if not _is_wrapper(target, ctx, "{}=={}".format(name, tags[1]), deps):
            package = _package_info(target, ctx, name, tags[1])
    library = None
    if LIBRARY_LAYER_TAG in ctx.rule.attr.tags:
        if tags:
            fail("{}: tagged {} and as pip package {}=={}; a pip package is planned with the others, only a first-party py_library is a layer of its own: drop the tag".format(target.label, LIBRARY_LAYER_TAG, tags[0], tags[1]))
        library = _library_info(target, ctx)
    return [PyImagePackagesInfo(
        packages = depset([package] if package else [], transitive = [d[PyImagePackagesInfo].packages for d in deps]),
        libraries = depset([library] if library else [], transitive = [d[PyImagePackagesInfo].libraries for d in deps]),
        package_files = depset(transitive = ([package.files] if package else []) + [d[PyImagePackagesInfo].package_files for d in deps]),
        main = _main_of(target, ctx),
        package = package,
        entry = _entry(ctx, tags, package, deps),
    )]

def _main_of(target, ctx):
    """The main file of a py_binary/py_test (its `main`, else `<name>.py`)."""
    if not ctx.rule.kind in ("py_binary", "py_test"):
        return None
    main = getattr(ctx.rule.file, "main", None)
    if main:
        return main
    wanted = target.label.name + ".py"
    matches = [f for f in getattr(ctx.rule.files, "srcs", []) if f.basename == wanted]
    if len(matches) != 1:
        fail("{}: cannot tell its main file: set `main`, or name a source {}".format(target.label, wanted))
    return matches[0]

pip_packages_aspect = aspect(
    implementation = _pip_packages_aspect_impl,
    attr_aspects = _ATTR_ASPECTS,
    attrs = dict(
        BYTECODE_ATTRS,
        # A parameter: the `compression` of the rule that applies the aspect.
        compression = attr.string(default = "gzip", values = COMPRESSIONS),
        _pyimage = PYIMAGE_TOOL,
        _zstd_level = attr.label(default = Label("//py:zstd_level")),
    ),
    provides = [PyImagePackagesInfo],
    # The Python toolchain may state the image's Python version (bytecode.bzl);
    # zstd layers run the zstd toolchain's binary (compression.bzl).
    toolchains = [config_common.toolchain_type(PY_TOOLCHAIN, mandatory = False), ZSTD_TOOLCHAIN_OPTIONAL],
    doc = """Walks a target's `deps` (and the `actual` of aliases) and gathers
every pip package of rules_python's `pip.parse` under it into
`PyImagePackagesInfo`. Packages are told by their `pypi_name=` and
`pypi_version=` tags, the name PEP 503 normalised (`PyYAML` -> `pyyaml`), so
ids are the same whatever rules_python writes (0.22 to 2.x). Untagged
targets on the way (hub aliases, the group libraries rules_python makes for
dependency cycles, first-party `py_library`s) and rules_python 2.x's tagged
wrapper `:pkg` (no `imports`, over its `:srcs`) are walked through: each
package is counted once, on the target that holds its files. Only files
under the package's import root (`site-packages`) go in its layer; the
`bin/`, `data/` and `include/` folders 2.x adds are left out.

For each package it runs one action that writes the package's deterministic
blob (gzip, or zstd: the `compression` of the rule that applies the aspect)
and descriptor (no uncompressed tar), with its files under the fixed, binary-
independent folder `/opt/pyimage/site-packages` of the image, and the
bytecode of its modules for the image's Python (`--@rules_pyimage//py:precompile`,
`--@rules_pyimage//py:python_version`; see docs/guide.md). The action
depends only on the package, so every binary and image that uses the package
(in one configuration) shares its outputs.

A first-party `py_library` tagged `pyimage_layer` gets one such action too:
its own files (`srcs`, `data`; not its deps') under
`/opt/pyimage/libraries/<runfiles path>`, with their bytecode; the images
that hold it link to them from their runfiles trees (docs/guide.md,
First-party libraries as layers).""",
)
