"""`py_image_parts`: every target of a `py_image` but rules_oci's (the rules_oci-free half).

`py_image` (//oci:defs.bzl) is this plus rules_oci's `oci_image` and
`oci_load`; a ruleset that finishes images with another tool can call it the
same way.
"""

load("@rules_pyimage_fleets//:fleets.bzl", "FLEETS")
load(":image_common.bzl", "DEFAULT_MAX_LAYERS")
load(":internal_kwargs.bzl", "internal_kwargs")
load(":py_image_inputs.bzl", "py_image_inputs")
load(":py_image_layers.bzl", "py_image_layers")
load(":py_image_plan.bzl", "py_image_plan")

visibility(["//py/..."])

def _fleet_slice(fleet, image_name):
    """The label of `image_name`'s slice of the lock of the fleet `fleet`, or None.

    None when MODULE.bazel does not declare the fleet, or its lock has no
    slice for the image (a new image, a missing or unreadable lock): the
    image is then planned alone.

    Args:
        fleet: the fleet's label, as `py_image(fleet = ...)` gives it.
        image_name: the image's name in the lock (`//pkg:name`).

    Returns:
        A Label or None.
    """
    declared = FLEETS.get(str(native.package_relative_label(fleet)))
    where = declared["images"].get(image_name) if declared else None
    return Label("@rules_pyimage_fleets//{}:slice".format(where)) if where else None

def py_image_parts(
        name,
        binary,
        base = None,
        max_layers = DEFAULT_MAX_LAYERS,
        args = [],
        env = {},
        python = "python3",
        platform = "linux/amd64",
        fleet = None,
        compression = "gzip",
        **kwargs):
    """The targets of a `py_image` that rules_oci does not make.

    Makes `<name>.layers` (`py_image_layers`), `<name>.inputs` (what a
    `py_image_fleet` plans of the image; both visible to every package, for
    the fleet and its report), `<name>.plan` (its plan report;
    `bazel run` prints it) and the filegroups of `<name>.layers`' outputs
    that `oci_image` takes: `<name>.layers_layout`, `_app_layer`,
    `_entrypoint`, `_env`. All get only Bazel's common attributes of
    `kwargs` and the tag `manual` (py/private/internal_kwargs.bzl).

    Args:
        name: the image's name.
        binary: the `py_binary` to run.
        base: the base image, an OCI layout; none for scratch.
        max_layers: the most layers of the image, base and app included.
        args: arguments of the binary, after the entrypoint.
        env: environment variables of the container.
        python: the interpreter command when the toolchain brings none.
        platform: the platform of the base image to build on.
        fleet: the `py_image_fleet` (label) whose lock the image follows.
        compression: `gzip` or `zstd`: how every layer of the image is compressed.
        **kwargs: the image's keyword arguments (their common ones are used).

    Returns:
        struct(image_name, layout, app_layer, entrypoint, env: labels of the
        filegroups, internal: the keyword arguments of helper targets).
    """
    image_name = "//{}:{}".format(native.package_name(), name)
    internal = internal_kwargs(kwargs)

    # Any py_image_fleet of the repository may plan this image.
    py_image_inputs(
        name = name + ".inputs",
        binary = binary,
        base = base,
        image_name = image_name,
        max_layers = max_layers,
        platform = platform,
        compression = compression,
        **internal_kwargs(kwargs, visibility = ["//visibility:public"])
    )

    # ... and report what it holds (the fleet's `.report` reads its outputs).
    layers = name + ".layers"
    py_image_layers(
        name = layers,
        binary = binary,
        base = base,
        max_layers = max_layers,
        args = args,
        env = env,
        python = python,
        platform = platform,
        fleet_slice = _fleet_slice(fleet, image_name) if fleet else None,
        image_name = image_name,
        compression = compression,
        **internal_kwargs(kwargs, visibility = ["//visibility:public"])
    )
    parts = {}
    for group in ["layout", "app_layer", "entrypoint", "env"]:
        parts[group] = ":{}_{}".format(layers, group)
        native.filegroup(
            name = parts[group][1:],
            srcs = [":" + layers],
            output_group = group,
            **internal_kwargs(kwargs, filegroup = True)
        )
    py_image_plan(
        name = name + ".plan",
        layers = ":" + layers,
        **internal
    )
    return struct(image_name = image_name, internal = internal, **parts)
