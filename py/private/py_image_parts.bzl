"""`py_image_parts`: every target of a `py_image` but rules_oci's (the rules_oci-free half).

`py_image` (//oci:defs.bzl) is this plus rules_oci's `oci_image` and
`oci_load`; a ruleset that finishes images with another tool can call it the
same way.
"""

load("@rules_pyimage_fleets//:fleets.bzl", "FLEETS")
load(":binaries.bzl", "image_binaries")
load(":image_common.bzl", "DEFAULT_MAX_LAYERS")
load(":internal_kwargs.bzl", "internal_kwargs")
load(":platforms.bzl", "checked_platforms", "platform_cpu", "platform_suffix")
load(":py_image_inputs.bzl", "py_image_inputs")
load(":py_image_layers.bzl", "py_image_layers_rule")
load(":py_image_plan.bzl", "py_image_plan")
load(":py_image_platforms.bzl", "py_image_platforms")

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

def _platform_parts(
        name,
        image_name,
        platform,
        target_platform,
        index_images,
        binaries,
        base,
        max_layers,
        args,
        env,
        python,
        fleet,
        compression,
        declared,
        kwargs):
    """The targets of one platform's image, named `<name>.layers`, `.inputs`, `.plan`, ...

    Returns:
        struct(name, platform, cpu: the CPU constraint of the platform, or
        None for one `platform`, layout, app_layer, entrypoint, env: labels of the
        filegroups `oci_image` takes).
    """

    # An image of a fleet follows its slice of the lock; else one of an index
    # is planned with its other platforms' images (their pure packages' layers
    # then the same), as a fleet would.
    fleet_slice = _fleet_slice(fleet, image_name) if fleet else None

    # Any py_image_fleet of the repository may plan this image.
    py_image_inputs(
        name = name + ".inputs",
        base = base,
        image_name = image_name,
        max_layers = max_layers,
        platform = platform,
        target_platform = target_platform,
        compression = compression,
        **(binaries | declared | internal_kwargs(kwargs, visibility = ["//visibility:public"]))
    )

    # ... and report what it holds (the fleet's `.report` reads its outputs).
    layers = name + ".layers"
    py_image_layers_rule(
        name = layers,
        base = base,
        max_layers = max_layers,
        args = args,
        env = env,
        python = python,
        platform = platform,
        target_platform = target_platform,
        index_images = [] if fleet_slice else index_images,
        fleet_slice = fleet_slice,
        image_name = image_name,
        compression = compression,
        **(binaries | declared | internal_kwargs(kwargs, visibility = ["//visibility:public"]))
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
        **internal_kwargs(kwargs)
    )
    return struct(
        name = name,
        platform = platform,
        cpu = platform_cpu(platform) if target_platform else None,
        **parts
    )

def py_image_parts(
        name,
        binary = None,
        binaries = None,
        default_binary = None,
        base = None,
        max_layers = DEFAULT_MAX_LAYERS,
        args = [],
        env = {},
        python = "python3",
        platform = None,
        platforms = None,
        fleet = None,
        compression = "gzip",
        layer_groups = {},
        alone_packages = [],
        group_compression = {},
        **kwargs):
    """The targets of a `py_image` that rules_oci does not make.

    For one platform (`platform`), makes `<name>.layers` (`py_image_layers`),
    `<name>.inputs` (what a `py_image_fleet` plans of the image; both
    visible to every package, for the fleet and its report), `<name>.plan`
    (its plan report; `bazel run` prints it) and the filegroups of
    `<name>.layers`' outputs that `oci_image` takes: `<name>.layers_layout`,
    `_app_layer`, `_entrypoint`, `_env`. With `platforms`, makes those for
    each platform under `<name>.<os>_<arch>[_<variant>]` (`<name>.linux_arm64.layers`,
    ...), each built for its platform's Bazel platform (`//py/platforms`),
    and `<name>.inputs` and `<name>.layers` of `py_image_platforms`: every
    platform's, so that a `py_image_fleet` plans (and reports) each.
    All get only Bazel's common attributes of `kwargs` and the tag `manual`
    (py/private/internal_kwargs.bzl).

    Args:
        name: the image's name.
        binary: the `py_binary` to run.
        binaries: several `py_binary` targets, instead of `binary` (see `py_image`).
        default_binary: with `binaries`, the one the entrypoint runs (default: the first).
        base: the base image, an OCI layout; none for scratch.
        max_layers: the most layers of the image, base and app included.
        args: arguments of the binary, after the entrypoint.
        env: environment variables of the container.
        python: the interpreter command when the toolchain brings none.
        platform: the platform of the base image to build on (default
            `linux/amd64`); not with `platforms`.
        platforms: the platforms (OCI's `os/arch[/variant]`, of
            `//py/platforms`; or a dict of OCI names to users' own Bazel
            platforms) to build an image for each; not with
            `platform`. With `fleet`, each platform's image follows its own
            entry of the lock (`//pkg:name.linux_arm64`).
        fleet: the `py_image_fleet` (label) whose lock the image follows.
        compression: `gzip` or `zstd`: how every layer of the image is compressed.
        layer_groups: groups of packages, each one layer (see `py_image`);
            not with `fleet`.
        alone_packages: packages each in a layer of its own; not with `fleet`.
        group_compression: a layer group's own compression (see `py_image`);
            not with `fleet`.
        **kwargs: the image's keyword arguments (their common ones are used).

    Returns:
        struct(image_name, internal: the keyword arguments of helper targets,
        platforms: a struct per platform (name: the prefix of its targets,
        platform, cpu: the CPU constraint of @platforms that matches it,
        None for one `platform`; layout, app_layer, entrypoint, env: labels of the
        filegroups)), and for one `platform` also its layout, app_layer,
        entrypoint and env.
    """
    image_name = "//{}:{}".format(native.package_name(), name)
    internal = internal_kwargs(kwargs)
    declared = {k: v for k, v in {
        "alone_packages": alone_packages,
        "group_compression": group_compression,
        "layer_groups": layer_groups,
    }.items() if v}
    if fleet and declared:
        fail("py_image {}: an image of a fleet follows the layers its fleet declares; give {} to the py_image_fleet {}".format(image_name, " and ".join(sorted(declared)), fleet))
    common = dict(
        binaries = image_binaries("py_image " + image_name, binary, binaries, default_binary),
        base = base,
        max_layers = max_layers,
        args = args,
        env = env,
        python = python,
        fleet = fleet,
        compression = compression,
        declared = declared,
        kwargs = kwargs,
    )
    if platforms == None:
        one = _platform_parts(name, image_name, platform or "linux/amd64", None, [], **common)
        return struct(
            image_name = image_name,
            internal = internal,
            platforms = [one],
            layout = one.layout,
            app_layer = one.app_layer,
            entrypoint = one.entrypoint,
            env = one.env,
        )
    targets = checked_platforms("py_image " + image_name, platforms, platform)
    names = {p: "." + platform_suffix(p) for p in targets}
    parts = []
    for p, suffix in names.items():
        others = [":{}{}.inputs".format(name, s) for q, s in names.items() if q != p]
        parts.append(_platform_parts(name + suffix, image_name + suffix, p, targets[p], others, **common))

    # The index as a fleet names it: `<name>.inputs` and `<name>.layers` hold
    # every platform's.
    for kind in ["inputs", "layers"]:
        py_image_platforms(
            name = "{}.{}".format(name, kind),
            parts = [":{}.{}".format(p.name, kind) for p in parts],
            **internal_kwargs(kwargs, visibility = ["//visibility:public"])
        )
    return struct(image_name = image_name, internal = internal, platforms = parts)
