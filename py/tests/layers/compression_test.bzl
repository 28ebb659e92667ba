"""Analysis tests: the zstd flags every layer action of a `compression = "zstd"` image gets."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

_ZSTD_LEVEL = "@@//py:zstd_level"

def _flags(action):
    """The `--compression=`, `--zstd-level=` and `--zstd=` arguments of an action."""
    return [a for a in action.argv if a.startswith(("--compression=", "--zstd-level=", "--zstd="))]

def _zstd_args_test_impl(ctx):
    env = analysistest.begin(ctx)
    actions = analysistest.target_actions(env)
    (app,) = [a for a in actions if a.mnemonic == "PyImageLayer"]
    (image,) = [a for a in actions if a.mnemonic == "PyImageLayout"]
    app_out = [f.basename for f in app.outputs.to_list()]
    asserts.true(env, "app_layers_zstd.app.tar.zst" in app_out, "the app layer is .tar.zst: {}".format(app_out))
    for action in (app, image):
        flags = _flags(action)
        asserts.equals(env, ["--compression=zstd", "--zstd-level=" + ctx.attr.level], flags[:2])
        zstd = flags[2][len("--zstd="):]
        asserts.true(env, zstd in [f.path for f in action.inputs.to_list()], "the zstd binary is an input of " + action.mnemonic)
    return analysistest.end(env)

def _make(settings):
    return analysistest.make(
        _zstd_args_test_impl,
        attrs = {"level": attr.string(mandatory = True)},
        config_settings = settings,
    )

# The default level, and one a user sets.
zstd_args_test = _make({})
zstd_level_test = _make({_ZSTD_LEVEL: 19})

def _level_fails_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, "--@rules_pyimage//py:zstd_level=0 is out of range: use 1 to 19 (default 3)")
    return analysistest.end(env)

zstd_level_out_of_range_test = analysistest.make(
    _level_fails_impl,
    expect_failure = True,
    config_settings = {_ZSTD_LEVEL: 0},
)

def _oci_image_takes_zstd_impl(ctx):
    # rules_oci's `tars` take `.tar.zst` (the stand-in checks the same
    # extensions as rules_oci 2.3.2): the app layer reaches oci_image as one.
    env = analysistest.begin(ctx)
    inputs = [f.basename for a in analysistest.target_actions(env) for f in a.inputs.to_list()]
    asserts.true(env, "app_image_zstd.layers.app.tar.zst" in inputs, "oci_image's inputs: {}".format(inputs))
    return analysistest.end(env)

oci_image_takes_zstd_test = analysistest.make(_oci_image_takes_zstd_impl)
