"""Checks and helpers shared by the image rules (`py_image_layers`, `py_image_inputs`)."""

visibility(["//py/..."])

PY_TOOLCHAIN = "@bazel_tools//tools/python:toolchain_type"

# Docker's layer store refuses more than 125 layers ("max depth exceeded").
MAX_LAYERS_LIMIT = 125

# The default cap; docs/layer-planning.md says how it was chosen.
DEFAULT_MAX_LAYERS = 60

def shown_label(label):
    """A label as users write it: `//pkg:name` in the main repository (not `@@//pkg:name`).

    Args:
        label: a Label.

    Returns:
        The text.
    """
    if not label.workspace_name:
        return "//{}:{}".format(label.package, label.name)
    return str(label)

def toolchain_runtime(ctx):
    """The Python toolchain's py3 runtime, or None (no toolchain, or no py3 runtime).

    Args:
        ctx: a rule or aspect context whose toolchains include the Python toolchain.

    Returns:
        A PyRuntimeInfo or None.
    """
    toolchain = ctx.toolchains[PY_TOOLCHAIN]
    return getattr(toolchain, "py3_runtime", None) if toolchain else None

def interpreter_runtime(ctx):
    """The Python toolchain's runtime when it brings interpreter files.

    Args:
        ctx: the rule context (with the Python toolchain).

    Returns:
        The PyRuntimeInfo, or None when the toolchain names its interpreter by path.
    """
    runtime = toolchain_runtime(ctx)
    if runtime == None or runtime.interpreter == None:
        return None
    return runtime

def reserved_layers(ctx, apps, libraries):
    """Layers of the image besides base and packages: one app layer per binary, one per library layer, and the interpreter's if any.

    Fails when `max_layers` is above the limit or leaves no package layer.

    Args:
        ctx: the rule context (with `max_layers` and the Python toolchain).
        apps: the number of the image's binaries (each has its app layer).
        libraries: the number of its first-party libraries of their own layers.

    Returns:
        The count.
    """
    interpreter = 1 if interpreter_runtime(ctx) else 0
    reserved = apps + interpreter + libraries
    if ctx.attr.max_layers > MAX_LAYERS_LIMIT:
        fail("max_layers = {} is above {}: Docker's layer store refuses images of more than {} layers (`max depth exceeded`); lower it".format(
            ctx.attr.max_layers,
            MAX_LAYERS_LIMIT,
            MAX_LAYERS_LIMIT,
        ))
    if ctx.attr.max_layers < reserved + 1:
        fail("max_layers = {} leaves no room for one package layer beside the {} reserved ({}{}{} app layer{}); raise it (the base image's layers count too), or untag a library".format(
            ctx.attr.max_layers,
            reserved,
            "interpreter, " if interpreter else "",
            "{} library, ".format(libraries) if libraries else "",
            apps,
            "s" if apps > 1 else "",
        ))
    return reserved

def base_layout(ctx):
    """The base image's layout.

    Args:
        ctx: the rule context (with a `base` attribute).

    Returns:
        (the layout's folder path, its files), or (None, []) for scratch.
    """
    if not ctx.files.base:
        return None, []
    index = [f for f in ctx.files.base if f.basename == "index.json" or f.is_directory]
    if len(index) != 1:
        fail("base {}: not an OCI image layout (expected one directory, or files with one index.json); pass an oci_pull target or a layout".format(ctx.attr.base.label))
    return (index[0].path if index[0].is_directory else index[0].dirname), ctx.files.base
