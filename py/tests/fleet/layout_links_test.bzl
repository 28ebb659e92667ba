"""Analysis test: the blobs an image's layout links travel with it.

The layout action links (relative symlinks, `--link`) the blobs other
actions wrote that it is sure to hold: the shared layers', the packages' not
in one, the interpreter's, the base copy's. rules_oci's `oci_image` (2.x, on Bazel 7+)
takes its base's runfiles as inputs, so the `<name>.layers_layout`
filegroup `py_image` passes as `base` must carry every one of them, and
`bazel build <name>.layers` must download them with the layout.
"""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

def _layout_links_test_impl(ctx):
    env = analysistest.begin(ctx)
    (action,) = [a for a in analysistest.target_actions(env) if a.mnemonic == "PyImageLayout"]
    argv = action.argv
    linked = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "--link"]
    blobs = [f for f in action.inputs.to_list() if f.path in linked]

    # Each expected path the end of one linked blob's short path (the
    # fleets' repository's canonical name is Bazel's to choose).
    got = sorted([f.short_path for f in blobs])
    matched = [[p for p in got if p.endswith(want)] for want in ctx.attr.linked]
    asserts.equals(env, [1] * len(ctx.attr.linked), [len(m) for m in matched], "linked blobs ending so: {} in {}".format(ctx.attr.linked, got))
    asserts.equals(env, len(ctx.attr.linked), len(got), "the blobs the layout links: {}".format(got))
    layers = analysistest.target_under_test(env)[DefaultInfo]
    group = ctx.attr.layout_group[DefaultInfo]
    (layout,) = group.files.to_list()
    asserts.true(env, layout.is_directory, "the layout group's one file is the layout")
    for name, files in [
        ("files of the target", layers.files.to_list()),
        ("runfiles of the target", layers.default_runfiles.files.to_list()),
        ("runfiles of the layout group", group.default_runfiles.files.to_list()),
    ]:
        missing = [f.short_path for f in blobs if f not in files]
        asserts.equals(env, [], missing, "blobs the layout links missing from the " + name)
    return analysistest.end(env)

layout_links_test = analysistest.make(
    _layout_links_test_impl,
    attrs = {
        "linked": attr.string_list(doc = "The ends of the short paths of the blobs the layout action links."),
        "layout_group": attr.label(doc = "The `<name>.layers_layout` filegroup py_image passes to oci_image."),
    },
)
