"""`fleet_slice`: an image's slice of its fleet's lock, and the shared layers it names.

Made by the fleets' repository (py/private/fleet_extension.bzl), one per
image of a lock, in a package of its own: what an image's build reads of the
lock, so that a change of another image's part changes nothing of it.
"""

load(":providers.bzl", "PyImageFleetGroupInfo", "PyImageFleetSliceInfo")

# Loaded by the BUILD files the fleets' repository writes.
visibility("public")

def _fleet_slice_impl(ctx):
    return [
        DefaultInfo(files = depset([ctx.file.lock])),
        PyImageFleetSliceInfo(
            lock = ctx.file.lock,
            groups = [g[PyImageFleetGroupInfo] for g in ctx.attr.groups],
            compressions = ctx.attr.compressions,
        ),
    ]

fleet_slice = rule(
    implementation = _fleet_slice_impl,
    doc = "An image's slice of its fleet's lock (see the file's docstring).",
    attrs = {
        "compressions": attr.string_list(doc = "The compressions the groups the lock declares choose."),
        "groups": attr.label_list(
            providers = [PyImageFleetGroupInfo],
            doc = "The shared layers of the lock the image holds.",
        ),
        "lock": attr.label(
            mandatory = True,
            allow_single_file = [".json"],
            doc = "A lock of that image alone.",
        ),
    },
)
