"""`py_image_layers`: the layers of a Python image, without rules_oci.

Gives an OCI layout of the base image, the interpreter (when the Python
toolchain brings its own) and the pip packages, merged into a capped set of
layers by the planner; plus the app layer and the entrypoint and environment
files that rules_oci's `oci_image` adds on top (see `py_image`).
"""

load("@rules_python//python:py_info.bzl", "PyInfo")
load(":binaries.bzl", "BINARIES_ATTRS", "checked_binaries", "image_binaries", "image_packages")
load(":bytecode.bzl", "BYTECODE_ATTRS", "bytecode_version")
load(":compression.bzl", "COMPRESSION_ATTRS", "ZSTD_TOOLCHAIN_OPTIONAL", "compression_of")
load(":config_files.bzl", "entrypoint_text", "env_text", "launcher_text")
load(":declared_layers.bzl", "DECLARED_LAYERS_ATTRS", "chosen_compressions", "declared_layers")
load(":image_common.bzl", "DEFAULT_MAX_LAYERS", "PY_TOOLCHAIN", "base_layout", "interpreter_runtime", "reserved_layers", "shown_label", "toolchain_runtime")
load(":image_paths.bzl", "APP_ROOT", "INTERPRETER_ROOT", "SITE_PACKAGES", "runfiles_path")
load(":internal_kwargs.bzl", "COMMON_ATTRS", "internal_kwargs")
load(":layer_action.bzl", "write_layer")
load(":pip_packages_aspect.bzl", "library_path")
load(":platforms.bzl", "TARGET_PLATFORM_ATTRS", "checked_platform", "checked_platforms", "checked_target_platform", "platform_suffix", "target_platform_transition")
load(":providers.bzl", "PyImageFleetSliceInfo", "PyImageInputsInfo", "PyImageLayersInfo", "PyImagePackagesInfo")
load(":py_image_inputs.bzl", "py_image_inputs")
load(":py_image_platforms.bzl", "py_image_platforms")
load(":pyimage_action.bzl", "PYIMAGE_TOOL", "pyimage_action")

visibility(["//py/..."])

def _write_layer(ctx, name, package, entries, inputs, bytecode, drop_links_into = []):
    """One action: `<name>.<layer>.manifest.json` -> blob (of the image's compression) and descriptor."""
    return write_layer(
        ctx,
        prefix = "{}.{}.".format(ctx.label.name, name),
        package = package,
        entries = entries,
        inputs = inputs,
        mnemonic = "PyImageLayer",
        progress_message = "Writing the {} layer of %{{label}}".format(name),
        bytecode = bytecode,
        compression = compression_of(ctx, ctx.attr.compression),
        drop_links_into = drop_links_into,
    )

def _under_any(path, roots):
    """Whether `path` is inside one of the folders `roots` (a dict)."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        if "/".join(parts[:i]) in roots:
            return True
    return False

def _empty_file_path(ctx, name):
    """The runfiles path of one of Bazel's empty files (`__init__.py`).

    Bazel names those of other repositories `../<repo>/...`, or
    `external/<repo>/...` (the legacy external runfiles form): both are
    `<repo>/...` in the runfiles tree Python imports from.
    """
    for prefix in ("../", "external/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return ctx.workspace_name + "/" + name

def _package_dir(runfiles_root, ctx, p):
    """The folder of pip package `p` in the runfiles tree: its repository's package folder.

    All of it is the package's (`site-packages/`, and rules_python 2.x's
    `bin/`, `data/`, `include/`), none of it is in the app layer. A package
    at the root of the main repository (no pip hub makes one) is its import
    root only, not the whole repository.
    """
    repo = p.label.workspace_name or ctx.workspace_name
    if not p.label.workspace_name and not p.label.package:
        return "/".join([runfiles_root, repo, p.import_root])
    return "/".join([part for part in [runfiles_root, repo, p.label.package] if part])

def _folders(paths):
    """Every folder that holds one of `paths` (a dict, for lookups)."""
    out = {}
    for path in paths:
        parts = path.split("/")
        for i in range(1, len(parts)):
            out["/".join(parts[:i])] = None
    return out

def _library_links(path, target, bytecode):
    """Entries of the app layer for a library file at `path`: a relative link to `target`, its place in the library layer.

    With bytecode, also a link for the module's `__pycache__/<name>.cpython-3N.pyc`
    (Python looks for it beside the path it imports, the link's).
    """
    up = "../" * (len(path.split("/")) - 1)
    out = [{"path": path, "symlink": up + target}]
    if bytecode and bytecode.version and path.endswith(".py"):
        folder, _, name = path.rpartition("/")
        pyc = "__pycache__/{}.cpython-{}.pyc".format(name[:-len(".py")], bytecode.version.replace(".", ""))
        out.append({"path": folder + "/" + pyc, "symlink": "../" + up + target.rpartition("/")[0] + "/" + pyc})
    return out

def _app_entries(ctx, binary, packages, excluded, runfiles_root, bytecode):
    """The app layer's entries: the binary's runfiles minus the pip packages' files, under runfiles_root.

    A file of a first-party library that is a layer of its own is a link to
    its place in that layer (`/opt/pyimage/libraries/...`): the action reads
    none of the library's files, so an edit of the library reruns no app
    layer action.

    Nothing under a package's import root goes in: neither its files nor what
    Bazel adds there (the empty `__init__.py`s of legacy_create_init, where
    rules_python 1.x writes no shim). Links into the packages' folders are
    left out too: the runfiles' symlinks to package files, and the relative
    links rules_python's venv binaries declare into a package (its
    `site-packages`, and 2.x's `data/`, `bin/`, `include/`, which the image
    does not hold; resolved by the tool, which reads them); other declared
    links are copied as links. So are the interpreter's files
    (in `excluded`) when they have a layer of their own.

    Args:
        ctx: the rule context.
        binary: the binary (a Target).
        packages: what `image_packages` gives: every package of the image
            (no app layer holds a file of one, whichever binary it is of).
        excluded: what `_excluded_files` gives, once for all the image's app layers.
        runfiles_root: the binary's runfiles folder in the image.
        bytecode: what `bytecode_version` gives (for the libraries' bytecode links).

    Returns:
        struct(entries, inputs: list of File, package_dirs: the folders whose
        links the layer drops).
    """
    runfiles = binary[DefaultInfo].default_runfiles
    package_files, library_files = excluded.package_files, excluded.library_files
    package_roots = {
        "/".join([part for part in [runfiles_root, p.label.workspace_name or ctx.workspace_name, p.label.package, p.import_root] if part]): None
        for p in packages.packages
    }
    entries = []
    inputs = []

    def add(path, kind, f):
        if f in package_files or _under_any(path, package_roots):
            return
        if f in library_files:
            entries.extend(_library_links(path, library_path(ctx, f), bytecode))
            return
        entries.append({"path": path, kind: f.path})
        inputs.append(f)

    for f in runfiles.files.to_list():
        # Generated files may be links a rule declared (Bazel 7 cannot tell
        # them at analysis time): the tool keeps those as links.
        add(runfiles_root + "/" + runfiles_path(ctx, f), "src" if f.is_source else "src_or_link", f)
    links = [(ctx.workspace_name + "/" + link.path, link) for link in runfiles.symlinks.to_list()]
    links += [(link.path, link) for link in runfiles.root_symlinks.to_list()]
    for path, link in links:
        add(runfiles_root + "/" + path, "src", link.target_file)
    empty_paths = [runfiles_root + "/" + _empty_file_path(ctx, name) for name in runfiles.empty_filenames.to_list()]
    empty_paths = [path for path in empty_paths if not _under_any(path, package_roots)]
    if empty_paths:
        empty = ctx.actions.declare_file("{}.{}.empty".format(ctx.label.name, binary.label.name))
        ctx.actions.write(empty, "")
        inputs.append(empty)
        entries.extend([{"path": path, "src": empty.path} for path in empty_paths])
    repo_mapping = binary[DefaultInfo].files_to_run.repo_mapping_manifest
    if repo_mapping:
        entries.append({"path": runfiles_root + "/_repo_mapping", "src": repo_mapping.path})
        inputs.append(repo_mapping)
    return struct(
        entries = entries,
        inputs = inputs,
        package_dirs = sorted({_package_dir(runfiles_root, ctx, p): None for p in packages.packages}),
    )

def _excluded_files(packages, runtime_files):
    """The files no app layer holds, and those it links to instead (dicts, for lookups).

    Held by none: the packages' and the interpreter layer's; linked to: the
    library layers'. Made once for all of an image's app layers.
    """
    return struct(
        package_files = {f: None for f in packages.package_files.to_list() + runtime_files},
        library_files = {f: None for lib in packages.libraries for f in lib.files.to_list()},
    )

def _binary_env(ctx, binary, runfiles_root, folders, has_packages):
    """The variables a binary needs (`PYTHONPATH`, `RUNFILES_DIR`).

    Only folders the image has go on `PYTHONPATH`: the packages' folder
    (when the binary has packages), the main repository's, and each import
    root of the binary's own files. A package's import root is not one (its
    files are in the packages' folder); nor is an import that names no
    folder of the app layer (rules_python's venv libraries give theirs bare,
    `site-packages`).
    """
    pythonpath = ["/" + SITE_PACKAGES] if has_packages else []
    pythonpath.append("/{}/{}".format(runfiles_root, ctx.workspace_name))
    for imp in binary[PyInfo].imports.to_list():
        folder = "{}/{}".format(runfiles_root, imp)
        if folder in folders and "/" + folder not in pythonpath:
            pythonpath.append("/" + folder)
    return {
        "PYTHONPATH": ":".join(pythonpath),
        "RUNFILES_DIR": "/" + runfiles_root,
    }

def _binary_parts(ctx, binary, layer_name, packages, excluded, python, bytecode):
    """One binary's part of the image: its app layer (runfiles and launcher), main file and environment.

    Returns:
        struct(layer: struct(blob, descriptor), main: the main file's path in
        the image, env: its own variables).
    """
    runfiles_root = "{}/{}.runfiles".format(APP_ROOT, binary.label.name)
    app = _app_entries(ctx, binary, packages, excluded, runfiles_root, bytecode)
    info = binary[PyImagePackagesInfo]
    main = "/{}/{}".format(runfiles_root, runfiles_path(ctx, info.main))
    env = _binary_env(ctx, binary, runfiles_root, _folders([e["path"] for e in app.entries]), bool(info.packages.to_list()))
    launcher = ctx.actions.declare_file("{}.{}.launcher".format(ctx.label.name, layer_name))
    ctx.actions.write(launcher, launcher_text(binary.label, python, env, ctx.attr.env, main), is_executable = True)
    layer = _write_layer(
        ctx,
        layer_name,
        "app:" + str(binary.label),
        app.entries + [{"path": "{}/{}".format(APP_ROOT, binary.label.name), "src": launcher.path}],
        depset(app.inputs + [launcher]),
        bytecode = bytecode,
        drop_links_into = app.package_dirs,
    )
    return struct(layer = layer, main = main, env = env)

def _interpreter_path(ctx, prefix, f):
    """Where a file of the Python runtime (under `prefix`) goes in the image."""
    rel = f.path[len(f.root.path) + 1:] if f.root.path else f.path
    if prefix:
        if not rel.startswith(prefix + "/"):
            fail("{}: interpreter file {} is outside the runtime's package {}".format(ctx.label, f.path, prefix))
        rel = rel[len(prefix) + 1:]
    return INTERPRETER_ROOT + "/" + rel

def _interpreter(ctx):
    """(layer or None, interpreter command in the image, the runtime's files in that layer)."""
    runtime = interpreter_runtime(ctx)
    if runtime == None:
        # The toolchain names an interpreter by path (`interpreter_path`):
        # the image uses the base image's Python.
        return None, ctx.attr.python, []
    interpreter = runtime.interpreter
    owner = interpreter.owner
    prefix = "/".join([p for p in [owner.workspace_root, owner.package] if p])

    # A file listed in `files` and as `interpreter` is listed once.
    files = runtime.files.to_list() + [interpreter]
    entries = {_interpreter_path(ctx, prefix, f): f.path for f in files}
    layer = _write_layer(
        ctx,
        "interpreter",
        "interpreter:" + str(owner),
        [{"path": path, "src": src} for path, src in entries.items()],
        depset([interpreter], transitive = [runtime.files]),
        bytecode = None,  # the runtime's files as they are
    )
    return layer, "/" + _interpreter_path(ctx, prefix, interpreter), files

def _base_copy(ctx, compression):
    """The base's image for the platform, copied into bin (a tree), and its C library.

    Its own action, which reads only the base: the image's layout links its
    blobs, so that a layout remade after a package change moves none of the
    base's bytes (a source file of an external repository is not a stable
    place to link to: Bazel replants the execroot's links to repositories).
    It also reads the base's layers once for its C library (glibc and its
    version, or musl), which the image action checks its wheels against; a
    zstd base layer is read when the image's compression is zstd (the zstd
    program is then at hand).

    Returns:
        struct(layout, libc), or None for scratch.
    """
    base_dir, base_files = base_layout(ctx)
    if not base_dir:
        return None
    out = ctx.actions.declare_directory(ctx.label.name + ".base")
    libc = ctx.actions.declare_file(ctx.label.name + ".base_libc.json")
    args = ctx.actions.args()
    args.add_all(["layout", "--quiet", "--base", base_dir, "--platform", ctx.attr.platform, "--out", out.path])
    args.add("--libc-out", libc)
    zstd = [a for a in compression.args if a.startswith("--zstd=")]
    args.add_all(zstd)
    pyimage_action(
        ctx,
        args,
        inputs = base_files + (compression.inputs if zstd else []),
        outputs = [out, libc],
        mnemonic = "PyImageBase",
        progress_message = "Copying the base image of %{label}",
    )
    return struct(layout = out, libc = libc)

def _py_image_layers_impl(ctx):
    checked_platform(ctx.attr.platform)
    checked_target_platform(ctx.label, ctx.attr.platform, ctx.attr.target_platform)
    if ctx.attr.index_images and ctx.attr.fleet_slice:
        fail("{}: an image follows its fleet's lock (fleet_slice) or is planned with its index's other images (index_images), not both; leave one out".format(ctx.label))
    binaries = checked_binaries(ctx)
    image = image_packages(ctx, binaries)
    packages = image.packages
    reserved = reserved_layers(ctx, len(binaries), len(image.libraries))
    interpreter_layer, python, runtime_files = _interpreter(ctx)
    bytecode = bytecode_version(ctx, toolchain_runtime(ctx))
    if bytecode.note:
        # buildifier: disable=print
        print(bytecode.note)

    # Each binary's app layer, the default's first (named `app`, as in an
    # image of one binary); the image runs the default.
    excluded = _excluded_files(image, runtime_files)
    apps = [
        _binary_parts(ctx, b, "app" if i == 0 else "app-" + b.label.name, image, excluded, python, bytecode)
        for i, b in enumerate(binaries)
    ]

    # The image action: plan the package layers under the cap (counting the
    # base's layers), then write the layout of base + interpreter + packages.
    layout = ctx.actions.declare_directory(ctx.label.name + ".layout")
    plan = ctx.actions.declare_file(ctx.label.name + ".plan.json")

    # Two arguments per package, in the params file of every pyimage action:
    # no image outgrows the command line's limit.
    args = ctx.actions.args()
    args.add("image")
    args.add("--out", layout.path)
    args.add("--plan-out", plan)
    args.add("--max-layers", ctx.attr.max_layers)
    args.add("--reserved", reserved)
    args.add("--platform", ctx.attr.platform)
    args.add(ctx.attr.image_name or str(ctx.label), format = "--image-name=%s")
    if bytecode.version:
        args.add("--python-version", bytecode.version)
    declared = declared_layers(ctx.attr, shown_label(ctx.label), ctx.attr.compression)
    if declared and ctx.attr.fleet_slice:
        fail("{}: an image of a fleet follows the layers its fleet declares; give layer_groups, alone_packages and group_compression to the py_image_fleet".format(ctx.label))
    chosen = chosen_compressions(declared)
    if ctx.attr.fleet_slice:
        chosen = ctx.attr.fleet_slice[PyImageFleetSliceInfo].compressions
    compression = compression_of(ctx, ctx.attr.compression, also = chosen)
    args.add_all(compression.args)
    inputs = list(compression.inputs)
    if declared:
        args.add(json.encode(declared), format = "--declared=%s")

    # The index's other images: planned with this one, so that the packages of
    # the same bytes get the same layers in each (their descriptors and bases
    # are inputs: another platform's package change can change this plan).
    for sibling in ctx.attr.index_images:
        other = sibling[PyImageInputsInfo]
        args.add_all("--index-image", [other.name, other.platform, other.base_dir or "-"])
        inputs.extend(other.base_files.to_list())
        for p in other.packages.to_list():
            args.add_all("--index-package", [other.name, p.descriptor])
            inputs.append(p.descriptor)

    # Blobs other actions wrote are linked from the layout (pyimage --link),
    # not copied: the layout is metadata, each blob stays its own action's
    # file, and a remote cache moves only those that changed. `linked` are
    # those the layout is sure to hold; they go with it (files, runfiles).
    # A package of a shared layer is not among them: its blob is linked only
    # if the layer was not built (then it is copied).
    linked = []
    grouped = {}
    if ctx.attr.fleet_slice:
        # The image's slice of its fleet's lock, and the shared layers it
        # names, each merged once by an action of its own.
        fleet = ctx.attr.fleet_slice[PyImageFleetSliceInfo]
        args.add("--fleet-lock", fleet.lock)
        inputs.append(fleet.lock)
        held = {p.id: None for p in packages}
        for group in fleet.groups:
            if [pid for pid in group.members if pid not in held]:
                continue  # a member gone from the image since the lock: not its layer
            args.add_all("--fleet-group", [group.id, group.descriptor, group.blob])
            inputs.extend([group.descriptor, group.blob])
            linked.append(group.blob)
            grouped.update({pid: None for pid in group.members})
    base = _base_copy(ctx, compression)
    if base:
        args.add("--base", base.layout.path)
        args.add("--base-libc", base.libc)
        inputs.extend([base.layout, base.libc])
        linked.append(base.layout)
    if interpreter_layer:
        args.add_all("--interpreter", [interpreter_layer.descriptor, interpreter_layer.blob])
        inputs.extend([interpreter_layer.descriptor, interpreter_layer.blob])
        linked.append(interpreter_layer.blob)

    # First-party libraries of their own layers, after the packages' (and the
    # image's only action that reads them).
    for lib in image.libraries:
        args.add_all("--library", [lib.descriptor, lib.blob])
        inputs.extend([lib.descriptor, lib.blob])
        linked.append(lib.blob)

    # Descriptors and blobs only: a merge inflates a blob's files part rather
    # than read the package's .tar, so that a remote cache or executor never
    # has to move the uncompressed tars for an image.
    for p in packages:
        args.add_all("--package", [p.descriptor, p.blob])
        inputs.extend([p.descriptor, p.blob])
        if p.id not in grouped:
            linked.append(p.blob)
    args.add_all(linked, before_each = "--link", expand_directories = False)
    pyimage_action(
        ctx,
        args,
        inputs = inputs,
        outputs = [layout, plan],
        mnemonic = "PyImageLayout",
        progress_message = "Planning and writing the layers of %{label}",
    )

    # Entrypoint and environment, in rules_oci's file formats: the default
    # binary's.
    entrypoint = ctx.actions.declare_file(ctx.label.name + ".entrypoint.txt")
    ctx.actions.write(entrypoint, entrypoint_text(ctx.label, [python, apps[0].main], ctx.attr.args))
    env = dict(apps[0].env)
    if interpreter_layer:
        # An interpreter built with an absolute rpath (not $ORIGIN) finds its
        # libpython here.
        env["LD_LIBRARY_PATH"] = "/{}/lib".format(INTERPRETER_ROOT)
    env_file = ctx.actions.declare_file(ctx.label.name + ".env.txt")
    ctx.actions.write(env_file, env_text(ctx.label, env, ctx.attr.env))
    app_blobs = [a.layer.blob for a in apps]

    return [
        DefaultInfo(
            files = depset([layout] + app_blobs + [entrypoint, env_file, plan] + linked),
            # rules_oci's oci_image takes its base's runfiles as inputs: the
            # files its links lead to (through the `layout` filegroup).
            runfiles = ctx.runfiles(files = linked),
        ),
        PyImageLayersInfo(
            layout = layout,
            app_layer = app_blobs[0],
            app_layers = app_blobs,
            entrypoint = entrypoint,
            env = env_file,
            plan = plan,
            image_name = ctx.attr.image_name or str(ctx.label),
            platform = ctx.attr.platform,
        ),
        OutputGroupInfo(
            app_layer = depset(app_blobs),
            entrypoint = depset([entrypoint]),
            env = depset([env_file]),
            layout = depset([layout]),
            plan = depset([plan]),
            base_libc = depset([base.libc] if base else []),
        ),
    ]

py_image_layers_rule = rule(
    implementation = _py_image_layers_impl,
    doc = """The layers of a Python container image for one platform, planned under a cap.

`py_image_layers` (the macro users call) makes one of these per platform;
every attribute below is the macro's too.

Builds, for a `py_binary` (or several: `binaries`):
- `<name>.layout`: an OCI image layout with the base image's layers, then the
  interpreter's layer (when the Python toolchain brings its own interpreter
  files), then the pip packages' layers: each package's cached blob from
  `pip_packages_aspect`, merged by the planner so that base + interpreter +
  packages + app never exceed `max_layers`. A package alone in its layer is
  its cached blob as is. Blobs other actions wrote (the base's, copied into
  `<name>.base` by an action of its own; shared layers; packages alone in a
  layer; the interpreter's) are relative symlinks to those files, which go
  with the layout as this target's files and runfiles.
- `<name>.app.tar.gz`: the app layer: the binary's runfiles under
  `/app/<binary>.runfiles`, without the pip packages' files (those live in
  `/opt/pyimage/site-packages`, the same path in every image), and its
  launcher `/app/<binary>`: a Python script that runs it with its own
  `PYTHONPATH` and `RUNFILES_DIR`. With `binaries`, each other binary's is
  `<name>.app-<binary>.tar.gz`, on top in the order of `binaries`; their
  packages are the union of theirs, each package once.
- `<name>.entrypoint.txt` and `<name>.env.txt`: the entrypoint (the
  interpreter running the (default) binary's main file, then `args`) and
  environment (its `PYTHONPATH` and `RUNFILES_DIR`, `LD_LIBRARY_PATH` with an
  interpreter layer, then `env`), in rules_oci's file formats.
- `<name>.plan.json`: the plan report (layers, members, sizes, reasons).
- `<name>.base_libc.json` (with a `base`): the base's C library (glibc and
  its version, or musl), read from its layers by the base's action.

Output groups: `layout`, `app_layer`, `entrypoint`, `env`, `plan`, `base_libc`.
Provider: `PyImageLayersInfo`. Copy a layout out of `bazel-bin` with its
links followed (`cp -rL`); it is valid as built, not after another build
rewrote a blob it links.

Errors at analysis: `binary` not a `py_binary`; two binaries of one name,
needing two versions (or builds) of one package, or running on two Pythons
(naming both); `platform` not
`os/arch[/variant]`; `max_layers` above 125, or
with no room for one package layer; a `base` without one `index.json` or
directory; an `args` entry or `env` key or value rules_oci's file formats
cannot carry; a binary whose runfiles path holds `$`. At execution: a base
that is not a readable OCI layout or has no manifest for `platform`; a cap
too small once the base's layers are counted; one path in two packages
(naming both and the path); bytecode for a Python other than the base's
(`PYTHON_VERSION` in its config, where it records one); a package's wheel
none of whose tags fits `platform`, an interpreter layer (or a package
without wheel tags) with native code of another platform, or a wheel whose
C library the base does not have (a `musllinux` wheel on a glibc base, a
`manylinux_2_X` wheel newer than the base's glibc), naming the package, a
tag or file and both sides (docs/guide.md, Platforms).

Package and app layers carry the bytecode of their modules for the image's
Python when it is known (`--@rules_pyimage//py:precompile`,
`--@rules_pyimage//py:python_version`; docs/guide.md).

`py_image` wraps this rule and rules_oci's `oci_image`; use this rule alone to
finish images with another tool.""",
    attrs = {
        "args": attr.string_list(
            doc = "Arguments appended to the entrypoint, after the binary. Spaces, newlines and any Unicode are kept; an empty argument, or one holding the text `%5Cn` (rules_oci's code for a newline), cannot be carried by rules_oci and is refused.",
        ),
        "base": attr.label(
            allow_files = True,
            doc = "The base image: an OCI image layout, as a directory (e.g. from `oci_pull`) or as files with its `index.json`. None: scratch.",
        ),
        "env": attr.string_dict(
            doc = "Environment of the container, on top of the `PYTHONPATH` and `RUNFILES_DIR` it needs (a key given here replaces it). As in rules_oci, `$NAME` and `${NAME}` in a value expand to the base image's NAME (nothing when the base has none; there is no escape): `{\"PATH\": \"/opt/tools/bin:$PATH\"}`. A value may not refer to another key this image sets, and no value may hold a newline.",
        ),
        "fleet_slice": attr.label(
            providers = [PyImageFleetSliceInfo],
            doc = "The image's slice of its fleet's lock, from the fleets' repository of `//py:extensions.bzl` (`py_image(fleet = ...)` finds it): its layers shared with other images are the fleet's, byte for byte.",
        ),
        "image_name": attr.string(
            doc = "The image's name in the fleet lock; default: this target's label.",
        ),
        "index_images": attr.label_list(
            providers = [PyImageInputsInfo],
            doc = "The other images of the image index this image is one of: the other platforms' `.inputs` (`py_image(platforms = ...)` sets them). The image is planned together with them, each package known by its bytes (its `diff_id`, as a fleet knows it), so that the packages of the same bytes on every platform (pure-Python wheels) get the same layers, one blob in every platform's manifest. Their package descriptors and bases are inputs of the image action. Empty: the image is planned alone.",
        ),
        "max_layers": attr.int(
            default = DEFAULT_MAX_LAYERS,
            doc = "The most layers the image may have, all counted: base, interpreter, packages and app. At most 125 (Docker's limit).",
        ),
        "platform": attr.string(
            default = "linux/amd64",
            doc = "The platform (`os/arch[/variant]`) of the base image's manifest to build on, when the base is a multi-platform index.",
        ),
        "python": attr.string(
            default = "python3",
            doc = "The interpreter command of the entrypoint when the Python toolchain has no interpreter files of its own (found on the base image's PATH).",
        ),
        "_pyimage": PYIMAGE_TOOL,
    } | BINARIES_ATTRS | BYTECODE_ATTRS | COMPRESSION_ATTRS | DECLARED_LAYERS_ATTRS | TARGET_PLATFORM_ATTRS,
    toolchains = [PY_TOOLCHAIN, ZSTD_TOOLCHAIN_OPTIONAL],
    cfg = target_platform_transition,
)

# What `platforms` sets on each platform's `py_image_layers_rule` itself.
_SET_PER_PLATFORM = ["target_platform", "index_images", "fleet_slice"]

def py_image_layers(name, binary = None, binaries = None, default_binary = None, platforms = None, **kwargs):
    """The layers of a Python container image, for one platform or for each of an index's.

    With no `platforms`, makes `<name>`: a `py_image_layers_rule` (its
    attributes and outputs below) for `platform` (default `linux/amd64`),
    built in the build's own configuration.

    With `platforms`, makes for each platform `<name>.<os>_<arch>[_<variant>]`
    (`<name>.linux_arm64`): a `py_image_layers_rule` built for that
    platform's Bazel platform (`target_platform`, so that `select()`s in the
    binary's `deps` and in `base` pick its wheels and base), whose
    `PyImageLayersInfo.platform` names it; each is planned with the others,
    as `py_image(platforms = ...)`'s are, so that a package of the same bytes
    on every platform (a pure-Python wheel) gets one layer, one blob, in
    every platform's layout. `<name>` then holds them all: its files are
    every platform's, and a rule reads each platform's `PyImageLayersInfo`
    from its `PyImagePlatformsInfo` (see `py_image_parts`). Finish each
    platform's image from `<name>.<os>_<arch>` with your tool, and the index
    of them. (Each platform also gets `<name>.<os>_<arch>.inputs`, what the
    others plan with; tagged `manual`.)

    ```starlark
    py_image_layers(
        name = "layers",
        binary = ":app",
        base = ":base",  # an index of both platforms, or a select()
        platforms = ["linux/amd64", "linux/arm64"],
    )
    ```

    Args:
        name: the target's name.
        binary: the `py_binary` of the image.
        binaries: several `py_binary` targets in one image, instead of
            `binary`: each with its own app layer and launcher
            (`/app/<name>`), their packages shared (see `py_image`).
        default_binary: with `binaries`, the one the entrypoint runs;
            default: the first.
        platforms: the platforms to build the image's layers for: OCI names
            (`os/arch[/variant]`) of `@rules_pyimage//py/platforms`, or a
            dict of OCI names to your own Bazel platforms, as for
            `py_image`. Not with `platform`, `target_platform`,
            `index_images` or `fleet_slice`, which it sets per platform.
        **kwargs: attributes of `py_image_layers_rule`, given to each
            platform's; of `<name>` (with `platforms`), only Bazel's common
            ones (`visibility`, `tags`, `testonly`, ...).
    """
    label = "//{}:{}".format(native.package_name(), name)
    owner = "py_image_layers " + label
    kwargs.update(image_binaries(owner, binary, binaries, default_binary))
    if platforms == None:
        py_image_layers_rule(name = name, **kwargs)
        return
    targets = checked_platforms(owner, platforms, kwargs.get("platform"))
    for attr in _SET_PER_PLATFORM:
        if attr in kwargs:
            fail("{}: `platforms` sets each platform's `{}`; leave it out".format(owner, attr))
    image_name = kwargs.pop("image_name", None) or label
    suffixes = {p: "." + platform_suffix(p) for p in targets}
    for p, suffix in suffixes.items():
        # What each platform's image is planned with (the others').
        py_image_inputs(
            name = name + suffix + ".inputs",
            binary = kwargs.get("binary"),
            binaries = kwargs.get("binaries", []),
            base = kwargs.get("base"),
            image_name = image_name + suffix,
            max_layers = kwargs.get("max_layers", DEFAULT_MAX_LAYERS),
            platform = p,
            target_platform = targets[p],
            compression = kwargs.get("compression", "gzip"),
            **internal_kwargs(kwargs)
        )
        py_image_layers_rule(
            name = name + suffix,
            platform = p,
            target_platform = targets[p],
            index_images = [":{}{}.inputs".format(name, s) for q, s in suffixes.items() if q != p],
            image_name = image_name + suffix,
            **kwargs
        )
    py_image_platforms(
        name = name,
        parts = [":" + name + s for s in suffixes.values()],
        **{k: v for k, v in kwargs.items() if k in COMMON_ATTRS}
    )
