"""`py_image_platforms`: an image index's per-platform targets, as one target.

`py_image(platforms = [...])` makes `<name>.inputs` and `<name>.layers` of
this rule, so that a `py_image_fleet` names an image index as it names an
image (`images = ["//app:image"]`) and plans (and reports) each platform's
image: its parts are the index's `<name>.<os>_<arch>.inputs` (or `.layers`),
each built for its own platform.
"""

load(":providers.bzl", "PyImageInputsInfo", "PyImageLayersInfo", "PyImagePlatformsInfo")

visibility(["//py/..."])

def _py_image_platforms_impl(ctx):
    return [
        DefaultInfo(files = depset(transitive = [t[DefaultInfo].files for t in ctx.attr.parts])),
        PyImagePlatformsInfo(
            inputs = [t[PyImageInputsInfo] for t in ctx.attr.parts if PyImageInputsInfo in t],
            layers = [t[PyImageLayersInfo] for t in ctx.attr.parts if PyImageLayersInfo in t],
        ),
    ]

py_image_platforms = rule(
    implementation = _py_image_platforms_impl,
    doc = "An image index's per-platform `.inputs` or `.layers` targets as one (see the file's docstring).",
    attrs = {
        "parts": attr.label_list(
            mandatory = True,
            providers = [[PyImageInputsInfo], [PyImageLayersInfo]],
            doc = "One `py_image_inputs` or `py_image_layers` per platform of the index.",
        ),
    },
)

def each_image(target, provider):
    """The per-platform providers of an image or image index target.

    Args:
        target: an image's `.inputs` or `.layers` target, or an index's (`py_image_platforms`).
        provider: `PyImageInputsInfo` or `PyImageLayersInfo`.

    Returns:
        A list: the target's own provider, or one per platform of the index.
    """
    if provider in target:
        return [target[provider]]
    info = target[PyImagePlatformsInfo]
    return info.inputs if provider == PyImageInputsInfo else info.layers
