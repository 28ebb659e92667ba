"""`fleet_group`: one shared layer of a fleet lock, merged once from the labels the lock names.

Made by the fleets' repository (py/private/fleet_extension.bzl), one per
group of a lock, in a package of its own: an image depends on its own
groups, never on another image. The merge takes the build of each member
that the lock records (by diff_id); when a label gives another build now (a
bump before `.update`), it writes a "not built" marker and the images that
hold the group merge their own packages. A layer group that chooses its own
compression (`group_compression`) has its members built in it here (the
aspect's `compression`): their merge is the layer, byte for byte what an
image that compresses them again writes.
"""

load(":compression.bzl", "COMPRESSION_ATTRS", "ZSTD_TOOLCHAIN_OPTIONAL", "compression_of", "merge_args")
load(":pip_packages_aspect.bzl", "pip_packages_aspect")
load(":providers.bzl", "PyImageFleetGroupInfo", "PyImagePackagesInfo")
load(":pyimage_action.bzl", "PYIMAGE_TOOL", "pyimage_action")

# Loaded by the BUILD files the fleets' repository writes.
visibility("public")

def _fleet_group_impl(ctx):
    candidates = {}
    for target in ctx.attr.packages:
        entry = target[PyImagePackagesInfo].entry
        if entry and entry.id in ctx.attr.members:
            candidates[entry.descriptor] = entry
    compression = compression_of(ctx, ctx.attr.compression)
    blob = ctx.actions.declare_file(ctx.label.name + "." + compression.suffix)
    descriptor = ctx.actions.declare_file(ctx.label.name + ".json")
    args = ctx.actions.args()
    args.add("fleet-merge-group")
    args.add(ctx.attr.group, format = "--group=%s")
    for p in candidates.values():
        args.add_all("--package", [p.descriptor, p.blob])
    args.add("--blob", blob)
    args.add("--descriptor", descriptor)
    args.add_all(merge_args(compression))
    members = ctx.attr.members
    shown = ", ".join(members[:3]) + (" and {} more".format(len(members) - 3) if len(members) > 3 else "")
    pyimage_action(
        ctx,
        args,
        inputs = [f for p in candidates.values() for f in (p.descriptor, p.blob)] + compression.inputs,
        outputs = [blob, descriptor],
        mnemonic = "PyImageFleetMerge",
        progress_message = "Merging a shared layer of a fleet: {}".format(shown),
    )
    return [
        DefaultInfo(files = depset([blob, descriptor])),
        PyImageFleetGroupInfo(id = ctx.attr.group, members = members, blob = blob, descriptor = descriptor),
    ]

fleet_group = rule(
    implementation = _fleet_group_impl,
    doc = "One shared layer of a fleet lock, merged once (see the file's docstring).",
    attrs = {
        "group": attr.string(mandatory = True, doc = "The group id, as the lock records it."),
        "members": attr.string_list(mandatory = True, doc = "The package ids of the group."),
        "packages": attr.label_list(
            aspects = [pip_packages_aspect],
            doc = "The labels the lock records for the members' builds.",
        ),
        "_pyimage": PYIMAGE_TOOL,
    } | COMPRESSION_ATTRS,
    toolchains = [ZSTD_TOOLCHAIN_OPTIONAL],
)
