"""Providers of rules_pyimage (all of them live here)."""

visibility(["//py/..."])

PyPipPackageInfo = provider(
    doc = """One third-party pip package, as rules_python's `pip.parse` made it.

Recognised by the `pypi_name=` and `pypi_version=` tags rules_python puts on
each package's `py_library` (0.22 through 2.x), never by repository names.""",
    fields = {
        "name": "The package's PyPI name, PEP 503 normalised (lowercase, runs of `-`, `_`, `.` as one `-`) from its `pypi_name=` tag, whatever spelling the rules_python version writes there.",
        "version": "Its version, as in its `pypi_version=` tag.",
        "id": "`name==version`: the package's identity in layer plans.",
        "label": "The Label of the package's `py_library`.",
        "import_root": "The folder, relative to the package's repository, that is on `sys.path` (e.g. `site-packages`).",
        "files": "depset of File: every file of the package that its importers get at run time.",
        "blob": "File: the package's deterministic gzip blob: its layer as is when alone in a layer; merges concatenate its parts (no uncompressed tar is kept).",
        "descriptor": "File: JSON with the blob's digest and size, the tar's diff_id and an index of its paths (see docs/layer-engine.md).",
    },
)

PyImageLibraryInfo = provider(
    doc = """A first-party `py_library` that is a layer of its own (tagged `pyimage_layer`).""",
    fields = {
        "label": "The Label of the library.",
        "files": "depset of File: its own files (`srcs` and `data`), in its layer at `/opt/pyimage/libraries/<runfiles path>`.",
        "blob": "File: its layer's deterministic blob.",
        "descriptor": "File: the blob's descriptor (see docs/layer-engine.md).",
        "modules": "tuple of (name, root): each top-level module its Python files give (`libs`, or `greeting` under an `imports` root), and that root in runfiles terms.",
    },
)

PyImagePackagesInfo = provider(
    doc = """The pip packages under a target, gathered by `pip_packages_aspect`; and the first-party libraries that are layers.""",
    fields = {
        "packages": "depset of PyPipPackageInfo: every pip package reachable through deps.",
        "package_files": "depset of File: the files of all those packages (to tell them from the app's own files).",
        "libraries": "depset of PyImageLibraryInfo: every first-party library tagged `pyimage_layer` reachable through deps.",
        "main": "File or None: the main source file, when the target is a py_binary or py_test.",
        "package": "PyPipPackageInfo or None: the package whose files this target holds (rules_python 2.x's wrapper `:pkg` has none; its `:srcs` has it).",
        "entry": "PyPipPackageInfo or None: the package this target stands for: the one it holds, the one a tagged wrapper (2.x's `:pkg`) wraps, or the one a rule with `actual` resolves to (Bazel's `alias` is transparent: a hub's `@pypi//six` is its spoke's target).",
    },
)

PyImageLayersInfo = provider(
    doc = """What `py_image_layers` built: the parts rules_oci's `oci_image` finishes.""",
    fields = {
        "layout": "File (directory): OCI layout of the base, interpreter and package layers.",
        "app_layer": "File: the default binary's app layer (.tar.gz): its own files and runfiles, and its launcher.",
        "app_layers": "list of File: every binary's app layer, the default's first (the image's top layers, in this order).",
        "entrypoint": "File: the entrypoint, one argument per line (rules_oci's format).",
        "env": "File: the environment, `KEY=VALUE` per line (rules_oci's format).",
        "plan": "File: the layer plan report (JSON).",
        "image_name": "The image's name in a fleet lock (`//pkg:name`).",
        "platform": "The image's platform, OCI's `os/arch[/variant]` (one per `py_image_layers`; `py_image(platforms = ...)` makes one per platform).",
    },
)

PyImageInputsInfo = provider(
    doc = """What a fleet plan needs to know of one image (`py_image_inputs`).""",
    fields = {
        "name": "The image's name in the fleet lock: its label, `//pkg:name`.",
        "packages": "depset of PyPipPackageInfo: the image's pip packages.",
        "libraries": "list of str: the labels of its first-party libraries of their own layers (a lock keys them by label).",
        "base_dir": "The base layout's folder (a path), or None for scratch.",
        "base_files": "depset of File: the base layout's files.",
        "max_layers": "The image's cap on layers.",
        "reserved_layers": "Layers besides base and packages: one app layer per binary, one per library layer, and the interpreter's when the toolchain brings one.",
        "platform": "The platform of the base to build on.",
        "declared": "The layers the image declares itself (`{\"groups\": ..., \"alone\": ...}`), or None: a fleet refuses an image that does.",
    },
)

PyImagePlatformsInfo = provider(
    doc = """An image index's images, one per platform (`py_image_platforms`: `<name>.inputs` and `<name>.layers` of `py_image(platforms = ...)`).""",
    fields = {
        "inputs": "list of PyImageInputsInfo: each platform's, in the order of `platforms` (empty for `.layers`).",
        "layers": "list of PyImageLayersInfo: each platform's, in the order of `platforms` (empty for `.inputs`).",
    },
)

PyImageFleetInfo = provider(
    doc = """A fleet of images planned together (`py_image_fleet`).""",
    fields = {
        "label": "The fleet's label, as messages write it (`//pkg:name`).",
        "lock": "File or None: the lock file (the fleet plan images follow).",
        "lock_path": "The lock's path in the source tree.",
        "update_target": "The label of the fleet's `.update` target.",
        "undeclared": "The MODULE.bazel lines that declare the fleet, when it is not declared; else empty.",
        "plan": "File: the fleet plan made now, from the lock (the lock's next content).",
        "report": "File: the plan's report as text (`pyimage fleet-report`).",
        "report_json": "File: the same report as JSON.",
        "inputs": "File: FLEET_INPUTS.json, what the fleet plans of its images.",
        "inputs_files": "depset: `inputs` and the files it names (bases, package descriptors).",
    },
)

PyImageFleetGroupInfo = provider(
    doc = """One shared layer of a fleet lock, merged once (`fleet_group`, in the fleets' repository).""",
    fields = {
        "id": "The group id (a hash of its members' ids, diff_ids and compression).",
        "members": "list of str: the package ids of the group.",
        "blob": "File: the merged blob, or an empty file when not built.",
        "descriptor": "File: its descriptor, or a \"not built\" marker (a member's bytes are not the lock's).",
    },
)

PyImageFleetSliceInfo = provider(
    doc = """An image's slice of its fleet's lock (`fleet_slice`, in the fleets' repository).""",
    fields = {
        "lock": "File: a lock of that image alone (the lock's format).",
        "groups": "list of PyImageFleetGroupInfo: the shared layers the slice names.",
        "compressions": "list of string: the compressions the groups the lock declares choose (the image's action compresses a group's layer so when the fleet gives it none).",
    },
)
