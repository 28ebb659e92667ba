"""Analysis tests of `platforms` (`py_image`, `py_image_layers`, `py_image_fleet`): each platform's targets are built for it, `.load` picks one, a fleet plans each."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//py:defs.bzl", "PyImageLayersInfo", "PyImagePlatformsInfo")

# buildifier: disable=bzl-visibility
load("//py/private:providers.bzl", "PyImageFleetInfo", "PyImageInputsInfo")

def _loaded_image_impl(ctx):
    env = analysistest.begin(ctx)
    inputs = [f.basename for a in analysistest.target_actions(env) for f in a.inputs.to_list()]
    images = [name for name in inputs if name.startswith(ctx.attr.image_prefix)]
    asserts.equals(env, [ctx.attr.expected], sorted({n: None for n in images}), "the image the load target loads")
    return analysistest.end(env)

_LOADED_ATTRS = {
    "expected": attr.string(mandatory = True, doc = "The basename of the `oci_image` the `.load` target takes."),
    "image_prefix": attr.string(mandatory = True, doc = "What the basenames of the image's `oci_image`s begin with."),
}

# `<name>.load` in the build's own configuration (this machine's platform).
loaded_image_test = analysistest.make(_loaded_image_impl, attrs = _LOADED_ATTRS)

# ... and in a build for linux/arm64 (`--platforms`).
loaded_image_arm64_test = analysistest.make(
    _loaded_image_impl,
    attrs = _LOADED_ATTRS,
    config_settings = {"//command_line_option:platforms": str(Label("//py/platforms:linux_arm64"))},
)

# ... and in a build for a CPU none of the image's platforms has.
loaded_image_s390x_test = analysistest.make(
    _loaded_image_impl,
    attrs = _LOADED_ATTRS,
    config_settings = {"//command_line_option:platforms": str(Label("//py/platforms:linux_s390x"))},
)

def _platform_layers_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    info = target[PyImageLayersInfo]
    asserts.equals(env, ctx.attr.platform, info.platform, "PyImageLayersInfo.platform")

    # Only a target of `platforms` changes configuration: one `platform`
    # builds in the build's own (this test's), as before `platforms` existed.
    transitioned = info.layout.root.path != ctx.bin_dir.path
    asserts.equals(env, ctx.attr.transitioned, transitioned, "built in a configuration of its own: {} (the build's: {})".format(info.layout.root.path, ctx.bin_dir.path))
    return analysistest.end(env)

platform_layers_test = analysistest.make(
    _platform_layers_impl,
    attrs = {
        "platform": attr.string(mandatory = True),
        "transitioned": attr.bool(mandatory = True),
    },
)

def _platform_packages_impl(ctx):
    env = analysistest.begin(ctx)
    info = analysistest.target_under_test(env)[PyImageInputsInfo]
    asserts.equals(env, ctx.attr.platform, info.platform, "PyImageInputsInfo.platform")
    asserts.equals(env, ctx.attr.packages, sorted([p.name for p in info.packages.to_list()]), "the packages the select() gave this platform")
    return analysistest.end(env)

platform_packages_test = analysistest.make(
    _platform_packages_impl,
    attrs = {
        "packages": attr.string_list(mandatory = True),
        "platform": attr.string(mandatory = True),
    },
)

def _platforms_info_impl(ctx):
    env = analysistest.begin(ctx)
    info = analysistest.target_under_test(env)[PyImagePlatformsInfo]
    asserts.equals(env, ctx.attr.platforms, [layers.platform for layers in info.layers], "each platform's PyImageLayersInfo, in the order of `platforms`")
    asserts.equals(env, [], info.inputs, "no PyImageInputsInfo in a `.layers` target")
    return analysistest.end(env)

# `py_image_layers(platforms = ...)`'s `<name>`: every platform's layers.
platforms_info_test = analysistest.make(
    _platforms_info_impl,
    attrs = {"platforms": attr.string_list(mandatory = True)},
)

def fleet_inputs_document(env):
    """The fleet under test's FLEET_INPUTS.json, decoded from the action that writes it.

    Args:
        env: the analysis test's environment.

    Returns:
        A dict, or {} (after a failed assertion) when no one action writes it.
    """
    info = analysistest.target_under_test(env)[PyImageFleetInfo]
    writes = [a for a in analysistest.target_actions(env) if a.mnemonic == "FileWrite" and a.outputs.to_list()[0] == info.inputs]
    asserts.equals(env, 1, len(writes), "the action writing the fleet's inputs")
    return json.decode(writes[0].content) if len(writes) == 1 else {}

def _fleet_images_impl(ctx):
    env = analysistest.begin(ctx)
    images = fleet_inputs_document(env).get("images", {})
    asserts.equals(env, ctx.attr.images, {name: image["platform"] for name, image in images.items()}, "the images the fleet plans, and their platforms")
    return analysistest.end(env)

# A fleet's planned images: name -> platform.
fleet_images_test = analysistest.make(
    _fleet_images_impl,
    attrs = {"images": attr.string_dict(mandatory = True)},
)
