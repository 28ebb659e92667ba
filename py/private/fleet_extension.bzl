"""The `pyimage` module extension: each fleet's lock, read once, sliced per image.

A user declares each fleet in MODULE.bazel:

```starlark
pyimage = use_extension("@rules_pyimage//py:extensions.bzl", "pyimage")
pyimage.fleet(fleet = "//:fleet", lock = "//:fleet.lock.json", hubs = ["@pypi"])
```

The extension makes one repository, `@rules_pyimage_fleets`, that holds for
every image of every declared lock a package of its own with the image's
slice (`fleet_slice`: a lock of that image alone) and, for every shared layer
of a lock, a package with its merge (`fleet_group`). A shared layer is
merged from its members' targets in the fleet's pip hubs (`@pypi//six`:
stable across bumps and rules_python versions, and checked to exist when the
lock is read, so that a package gone from the hub never breaks an image),
or, for a package of the main repository, from the label the lock records;
a layer with a member neither gives is merged by each image itself. `py_image(fleet = "//:fleet")` takes its image's slice from there:
an image's build reads its own slice and its own groups, never another
image's part of the lock, so that one team's change leaves every other
image's targets as they were. Its `fleets.bzl` says which images have a
slice (it changes when an image joins or leaves a lock, not on a bump).

A lock that is missing (a new fleet) gives no slices: images are planned
alone. One that does not parse (a hand edit, a merge conflict), or of
another format (an earlier one `.update` migrates, a newer one), gives none
either, with a one-line warning naming the file and `.update`: no image
breaks, the fleet's test fails, and `.update` writes a good lock.
"""

load(":compression.bzl", "COMPRESSIONS")
load(":declared_layers.bzl", "chosen_compressions")
load(":platforms.bzl", "is_oci_platform")

visibility(["//py/..."])

# The lock format this reads (tools/pyimage/formats/lock.py writes it).
LOCK_FORMAT = "rules_pyimage.fleet-lock/v7"

# The repository's name (rules_pyimage's MODULE.bazel uses it by this name).
FLEETS_REPO = "rules_pyimage_fleets"

def _where(label):
    """`//pkg:name` (a label string) as a path of packages: `pkg/_name` (`_name` at the root)."""
    pkg, _, name = label.split("//", 1)[-1].partition(":")
    return (pkg + "/_" if pkg else "_") + name

def _version(name):
    """The version of a lock format's name (`.../v3` -> 3), 0 when it has none."""
    tail = str(name).rpartition("/v")[2]
    return int(tail) if tail.isdigit() else 0

def _is_dict_of(value, kind):
    return type(value) == "dict" and all([type(v) == kind for v in value.values()])

def _strings(value):
    return type(value) == "list" and all([type(v) == "string" for v in value])

def _declared_shape(declared):
    """Whether a lock's `declared` has the shape pyimage reads (pyimage checks the rest)."""
    if type(declared) != "dict" or [k for k in declared if k not in ("alone", "compression", "groups")]:
        return False
    groups = declared.get("groups", {})
    if type(groups) != "dict" or not all([_strings(v) for v in groups.values()]):
        return False
    if not _is_dict_of(declared.get("compression", {}), "string"):
        return False
    return _strings(declared.get("alone", []))

def _check_layer(layer, packages):
    """Why a layer of a lock is malformed, or ''."""
    if type(layer) != "dict":
        return "a layer is not an object"
    members = layer.get("packages")
    diff_ids = layer.get("diff_ids")
    if type(members) != "list" or not all([type(p) == "string" for p in members]):
        return "a layer's packages are not a list of ids"
    if not _is_dict_of(diff_ids, "string") or sorted(diff_ids.keys()) != sorted(members):
        return "a layer's diff_ids are not one per package"
    if type(layer.get("group", "")) != "string":
        return "a layer's group is not a string"
    if layer.get("compression", "gzip") not in COMPRESSIONS:
        return "a layer's compression is not one of " + ", ".join(COMPRESSIONS)
    for p in members:
        if type(packages.get(p)) != "dict" or type(packages[p].get(diff_ids[p])) != "dict":
            return "package {} has no entry in the lock's packages".format(p)
    return ""

def _parse(text):
    """(the lock's images and packages, '') or (None, why it cannot be read)."""
    doc = json.decode(text, default = None)
    if type(doc) != "dict":
        return None, "it does not parse as JSON (a merge conflict, a hand edit?)"
    if doc.get("format") != LOCK_FORMAT:
        return None, "it is in format {}, not {} ({})".format(
            doc.get("format"),
            LOCK_FORMAT,
            "upgrade rules_pyimage" if _version(doc.get("format")) > _version(LOCK_FORMAT) else "`.update` migrates it",
        )
    images, packages = doc.get("images"), doc.get("packages")
    if not _is_dict_of(images, "dict") or not _is_dict_of(packages, "dict"):
        return None, "its images or packages are not objects"
    if not _declared_shape(doc.get("declared", {})):
        return None, "its declared layers are not {\"groups\": {name: [package, ...]}, \"alone\": [package, ...], \"compression\": {name: compression}}"
    for name, entry in images.items():
        if type(entry.get("layers")) != "list":
            return None, "image {} has no layers list".format(name)
        if not is_oci_platform(entry.get("platform")):
            return None, "image {} has no platform of the form os/arch[/variant]".format(name)
        if not _strings(entry.get("libraries", [])):
            return None, "image {}: its libraries are not a list of labels".format(name)
        for layer in entry["layers"]:
            why = _check_layer(layer, packages)
            if why:
                return None, "image {}: {}".format(name, why)
    return doc, ""

def _slice(doc, name):
    """A lock of image `name` alone: its entry, the builds it holds and the fleet's declared layers."""
    entry = doc["images"][name]
    held = {}
    for layer in entry["layers"]:
        for p in layer["packages"]:
            held.setdefault(p, {})[layer["diff_ids"][p]] = doc["packages"][p][layer["diff_ids"][p]]
    out = {"format": LOCK_FORMAT, "images": {name: entry}, "packages": held}
    if "declared" in doc:
        # The layers the fleet declares: the image plans what the lock does
        # not hold (a package bumped since) around them too.
        out["declared"] = doc["declared"]
    return out

def _hub(rctx, package):
    """(repo, path, folder) of a hub's root package `repo//path`."""
    repo, _, path = package.partition("//")
    folder = rctx.path(Label("@@{}//:BUILD.bazel".format(repo))).dirname
    for part in path.split("/") if path else []:
        folder = folder.get_child(part)
    return repo, path, folder

def _hub_name(package_id):
    """A hub's package of a pip package (`jaraco-functools==4.1.0` -> `jaraco_functools`)."""
    return package_id.partition("==")[0].replace("-", "_").replace(".", "_")

def _main_repo_label(rctx, label):
    """Whether `label` names a package of the main repository that exists."""
    if not label.startswith("@@//"):
        return False
    folder = rctx.path(Label("@@//:MODULE.bazel")).dirname
    for part in label[len("@@//"):].partition(":")[0].split("/"):
        if part:
            folder = folder.get_child(part)
    return folder.get_child("BUILD.bazel").exists or folder.get_child("BUILD").exists

def _group_labels(rctx, doc, layer, hubs):
    """The targets to merge a shared layer from, or None when a member has none.

    Each member's target in every hub that has it (the merge picks the build
    whose diff_id the lock records), else the main repository's label the
    lock records.
    """
    labels = []
    for p in layer["packages"]:
        found = []
        for repo, path, folder in hubs:
            if folder.get_child(_hub_name(p)).get_child("BUILD.bazel").exists:
                found.append("@@{}//{}".format(repo, "/".join([x for x in [path, _hub_name(p)] if x])))
        label = doc["packages"][p][layer["diff_ids"][p]].get("label")
        if not found and type(label) == "string":
            found = [label] if _main_repo_label(rctx, label) else []
        if not found:
            return None
        labels.extend(found)
    return labels

def _group_compression(doc, layer):
    """A shared layer's compression (its members are built in it), or None.

    Its declared group's own, else the one the lock records for its members.
    """
    if "compression" in layer:
        return layer["compression"]
    found = {doc["packages"][p][layer["diff_ids"][p]].get("compression"): None for p in layer["packages"]}
    if len(found) != 1 or list(found)[0] not in COMPRESSIONS:
        return None
    return list(found)[0]

def _write_fleet(rctx, home, doc, hubs):
    """Write a fleet's slices and groups under `home`; return {image: slice package}."""
    slices = {}
    groups = {}

    # Every compression the fleet's groups choose, for every image: an image
    # plans a group its lock does not give it yet (a package added before
    # `.update`) in its compression too.
    chosen = chosen_compressions(doc.get("declared"))
    for name, entry in sorted(doc["images"].items()):
        own = []
        for layer in entry["layers"]:
            gid = layer.get("group")
            if not gid:
                continue
            labels = _group_labels(rctx, doc, layer, hubs)
            compression = _group_compression(doc, layer)
            if labels == None or compression == None:
                continue  # nothing to build it from: each image merges its own
            groups[gid] = (layer["packages"], labels, compression)
            own.append("//{}/g/{}:group".format(home, gid))
        where = "{}/i/{}".format(home, _where(name))
        rctx.file(where + "/slice.json", json.encode_indent(_slice(doc, name), indent = " ") + "\n")
        rctx.file(where + "/BUILD.bazel", _SLICE_BUILD.format(
            what = "An image's slice of its fleet's lock",
            name = "slice",
            groups = repr(own),
            compressions = repr(chosen),
            lock = "slice.json",
        ))
        slices[name] = where
    for gid, (members, labels, compression) in sorted(groups.items()):
        rctx.file(
            "{}/g/{}/BUILD.bazel".format(home, gid),
            _GROUP_BUILD.format(
                group = repr(gid),
                members = repr(members),
                packages = repr(labels),
                compression = repr(compression),
            ),
        )

    # The whole lock and all its groups, for the fleet's own targets (its report).
    rctx.file(home + "/lock.json", json.encode_indent(doc, indent = " ") + "\n")
    every = ["//{}/g/{}:group".format(home, gid) for gid in sorted(groups)]
    rctx.file(home + "/BUILD.bazel", _SLICE_BUILD.format(
        what = "A fleet's whole lock and every shared layer",
        name = "all",
        groups = repr(every),
        compressions = "[]",
        lock = "lock.json",
    ))
    return slices

_ROOT_BUILD = """# The fleets' locks, sliced per image. Written by rules_pyimage's module extension.
load("@bazel_skylib//:bzl_library.bzl", "bzl_library")

bzl_library(
    name = "fleets",
    srcs = ["fleets.bzl"],
    visibility = ["//visibility:public"],
)
"""

_SLICE_BUILD = """# {what}. Written by rules_pyimage's module extension.
load("@rules_pyimage//py/private:fleet_slice.bzl", "fleet_slice")

fleet_slice(
    name = "{name}",
    groups = {groups},
    compressions = {compressions},
    lock = "{lock}",
    visibility = ["//visibility:public"],
)
"""

_GROUP_BUILD = """# A shared layer of a fleet's lock. Written by rules_pyimage's module extension.
load("@rules_pyimage//py/private:fleet_group.bzl", "fleet_group")

fleet_group(
    name = "group",
    group = {group},
    members = {members},
    packages = {packages},
    compression = {compression},
    visibility = ["//visibility:public"],
)
"""

def _fleets_repo_impl(rctx):
    fleets = {}
    for fleet, lock in sorted(rctx.attr.locks.items()):
        hubs = [_hub(rctx, hub) for hub in rctx.attr.hubs.get(fleet, [])]
        update = fleet.split("//", 1)[-1]
        entry = {"lock": lock, "images": {}, "all": ""}
        path = rctx.path(Label(lock))
        if hasattr(rctx, "watch"):
            rctx.watch(path)  # a lock made later is read then
        if path.exists:
            doc, why = _parse(rctx.read(path))
            if doc == None:
                # buildifier: disable=print
                print("WARNING: rules_pyimage: the fleet lock {} cannot be read: {}; its images are planned alone until `bazel run //{}.update` rewrites it".format(lock, why, update))
            else:
                home = "f/" + _where(fleet)
                entry["images"] = _write_fleet(rctx, home, doc, hubs)
                entry["all"] = home
        fleets[fleet] = entry
    rctx.file("BUILD.bazel", _ROOT_BUILD)
    rctx.file(
        "fleets.bzl",
        '"""Each declared fleet: its lock, and the package of each image\'s slice."""\n\nFLEETS = ' +
        json.encode_indent(fleets, indent = "    ") + "\n",
    )

_fleets_repo = repository_rule(
    implementation = _fleets_repo_impl,
    attrs = {
        "hubs": attr.string_list_dict(doc = "Fleet label -> its pip hubs' root packages (`canonical repo//path`)."),
        "locks": attr.string_dict(doc = "Fleet label -> its lock file's label."),
    },
    doc = "The fleets' locks, sliced per image (see the file's docstring).",
)

_fleet_tag = tag_class(
    doc = "A fleet whose lock Bazel reads, so that its images follow it.",
    attrs = {
        "fleet": attr.label(
            mandatory = True,
            doc = "The `py_image_fleet` target (`//:fleet`): `py_image(fleet = ...)` names it.",
        ),
        "lock": attr.label(
            mandatory = True,
            doc = "The fleet's lock file (`//:fleet.lock.json`). It may be missing until the first `bazel run //:fleet.update`.",
        ),
        "hubs": attr.label_list(
            doc = "The pip hubs of the fleet's packages (`[\"@pypi\"]`: the `hub_name`s of `pip.parse`; a hub is the package holding one package per pip package, `@pypi//six`). Shared layers are merged once from their members' targets there; without them, each image merges its own.",
        ),
    },
)

def _pyimage_impl(mctx):
    locks = {}
    hubs = {}
    for mod in mctx.modules:
        for tag in mod.tags.fleet:
            key = str(tag.fleet)
            if key in locks:
                fail("pyimage.fleet: fleet {} is declared twice (in {}); declare each fleet once".format(tag.fleet, mod.name))
            locks[key] = str(tag.lock)
            hubs[key] = ["{}//{}".format(hub.workspace_name, hub.package) for hub in tag.hubs]
    _fleets_repo(name = FLEETS_REPO, locks = locks, hubs = hubs)

pyimage = module_extension(
    implementation = _pyimage_impl,
    tag_classes = {"fleet": _fleet_tag},
    doc = """rules_pyimage's module extension: the fleets whose locks images follow.

```starlark
pyimage = use_extension("@rules_pyimage//py:extensions.bzl", "pyimage")
pyimage.fleet(fleet = "//:fleet", lock = "//:fleet.lock.json", hubs = ["@pypi"])
```

It writes one repository, `@rules_pyimage_fleets`: per image of each lock, a
package with its slice (a lock of that image alone) and the shared layers it
names; per shared layer, a package with its merge (mnemonic
`PyImageFleetMerge`), from the members' targets in `hubs` (`@pypi//six`:
the same label across bumps and rules_python versions, checked to exist when
the lock is read), else, for a package of the main repository, the label the
lock records. An image depends on its own slice only, never on the fleet
target or another image. A missing lock gives no slices (images are planned
alone); one that does not parse, or is of another format, gives none and a
one-line warning naming the file and the fleet's `.update`.""",
)
