"""`py_image_inputs`: what a fleet plan needs to know of one image."""

load(":binaries.bzl", "BINARIES_ATTRS", "checked_binaries", "image_packages")
load(":compression.bzl", "COMPRESSION_ATTRS")
load(":declared_layers.bzl", "DECLARED_LAYERS_ATTRS", "declared_layers")
load(":image_common.bzl", "DEFAULT_MAX_LAYERS", "PY_TOOLCHAIN", "base_layout", "reserved_layers", "shown_label")
load(":platforms.bzl", "TARGET_PLATFORM_ATTRS", "checked_platform", "checked_target_platform", "target_platform_transition")
load(":providers.bzl", "PyImageInputsInfo")

visibility(["//py/..."])

def _py_image_inputs_impl(ctx):
    checked_target_platform(ctx.label, ctx.attr.platform, ctx.attr.target_platform)
    binaries = checked_binaries(ctx)
    image = image_packages(ctx, binaries)
    base_dir, base_files = base_layout(ctx)
    return [PyImageInputsInfo(
        name = ctx.attr.image_name,
        packages = depset(image.packages),
        libraries = [shown_label(lib.label) for lib in image.libraries],
        base_dir = base_dir,
        base_files = depset(base_files),
        max_layers = ctx.attr.max_layers,
        reserved_layers = reserved_layers(ctx, len(binaries), len(image.libraries)),
        platform = checked_platform(ctx.attr.platform),
        declared = declared_layers(ctx.attr, shown_label(ctx.label), ctx.attr.compression),
    )]

py_image_inputs = rule(
    implementation = _py_image_inputs_impl,
    doc = """An image's pip packages, base, cap and reserved layers, for `py_image_fleet`.

`py_image` makes one, `<name>.inputs`, with the same `binary`, `binaries`, `base`,
`max_layers`, `platform`, `target_platform`, `compression` and declared layers as its `<name>.layers`. It runs no action.""",
    attrs = {
        "base": attr.label(allow_files = True, doc = "The base image (see `py_image_layers`)."),
        "image_name": attr.string(mandatory = True, doc = "The image's name in the fleet lock (its label)."),
        "max_layers": attr.int(default = DEFAULT_MAX_LAYERS, doc = "The image's cap on layers."),
        "platform": attr.string(default = "linux/amd64", doc = "The platform of the base to build on."),
    } | BINARIES_ATTRS | COMPRESSION_ATTRS | DECLARED_LAYERS_ATTRS | TARGET_PLATFORM_ATTRS,
    toolchains = [PY_TOOLCHAIN],
    cfg = target_platform_transition,
)
