"""Analysis tests of declared layers (`layer_groups`, `alone_packages`, `group_compression`): what reaches pyimage."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load(":platforms_test.bzl", "fleet_inputs_document")

def _declared_args_impl(ctx):
    env = analysistest.begin(ctx)
    layouts = [a for a in analysistest.target_actions(env) if a.mnemonic == "PyImageLayout"]
    asserts.equals(env, 1, len(layouts), "the image action")
    given = [a for a in layouts[0].argv if a.startswith("--declared=")]
    want = ["--declared=" + ctx.attr.expected] if ctx.attr.expected else []
    asserts.equals(env, want, given, "what the image action is told of declared layers")
    compression = [a for a in layouts[0].argv if a.startswith("--compression=")]
    asserts.equals(env, ["--compression=" + ctx.attr.compression], compression, "the image's compression")
    zstd = [a for a in layouts[0].argv if a.startswith("--zstd=")]
    asserts.equals(env, ctx.attr.zstd, len(zstd) == 1, "whether the image action has the zstd program")
    if ctx.attr.zstd:
        path = zstd[0].removeprefix("--zstd=")
        asserts.true(env, path in [f.path for f in layouts[0].inputs.to_list()], "the zstd program is an input")
    return analysistest.end(env)

# The `--declared` argument of a `.layers` target's image action ("": none),
# its compression, and whether it gets the zstd program (a group's own
# compression of zstd needs it in a gzip image).
declared_args_test = analysistest.make(
    _declared_args_impl,
    attrs = {
        "compression": attr.string(default = "gzip"),
        "expected": attr.string(),
        "zstd": attr.bool(),
    },
)

def _fleet_declared_impl(ctx):
    env = analysistest.begin(ctx)
    doc = fleet_inputs_document(env)
    asserts.equals(env, json.decode(ctx.attr.expected), doc.get("declared"), "the fleet's declared layers")
    asserts.equals(env, ctx.attr.fleet, doc.get("fleet"), "the fleet's label, for messages")
    return analysistest.end(env)

# The declared layers a fleet hands its plan (`expected`: JSON; "null": none).
fleet_declared_test = analysistest.make(
    _fleet_declared_impl,
    attrs = {
        "expected": attr.string(mandatory = True),
        "fleet": attr.string(mandatory = True),
    },
)
