"""The platforms an image is built for: OCI's `os/arch[/variant]` names, and Bazel's platforms for them.

`py_image(platforms = [...])` takes OCI names (or a dict of them to users'
own Bazel platforms); each of a list becomes a Bazel platform
of `//py/platforms` (`linux/arm64` -> `@rules_pyimage//py/platforms:linux_arm64`,
constraints `@platforms//os:linux` and `@platforms//cpu:aarch64`), which the
image's layers are built for (`target_platform`, a transition), so that a
`select()` on the CPU in the binary's `deps` or in `base` picks that
platform's wheels and base. `//py/platforms` also has a `config_setting`
`is_<os>_<arch>` per platform, for `select()`s of users' own.
"""

visibility(["//py/..."])

# OCI's Linux platforms that @platforms (0.0.10 and later) has a CPU for:
# OCI name -> the CPU constraint's name.
PLATFORM_CPUS = {
    "linux/386": "x86_32",
    "linux/amd64": "x86_64",
    "linux/arm/v7": "armv7",
    "linux/arm64": "aarch64",
    "linux/loong64": "loongarch64",
    "linux/ppc64le": "ppc64le",
    "linux/riscv64": "riscv64",
    "linux/s390x": "s390x",
}

def is_oci_platform(platform):
    """Whether `platform` is a string of OCI's form `os/arch[/variant]`, as a lock records it.

    Each part is lowercase letters, digits and `_` (what
    tools/pyimage/formats/lock.py also takes).

    Args:
        platform: any value.

    Returns:
        True or False.
    """
    if type(platform) != "string":
        return False
    parts = platform.split("/")
    return len(parts) in (2, 3) and not [p for p in parts if not p or p != p.lower() or not p.replace("_", "").isalnum()]

def checked_platform(platform):
    """`platform` when it is `os/arch[/variant]`; fails naming it otherwise.

    Args:
        platform: a `platform` attribute.

    Returns:
        `platform`.
    """
    if not is_oci_platform(platform):
        fail("platform = \"{}\" is not os/arch[/variant] (OCI's names, lowercase); use e.g. \"linux/amd64\" or \"linux/arm64/v8\"".format(platform))
    return platform

def platform_suffix(platform):
    """The part of target names that stands for `platform`: `linux/arm/v7` -> `linux_arm_v7`."""
    return platform.replace("/", "_")

def bazel_platform(platform):
    """The Bazel platform (a Label of `//py/platforms`) of an OCI platform of PLATFORM_CPUS."""
    return Label("//py/platforms:" + platform_suffix(platform))

def platform_cpu(platform):
    """The CPU constraint (a Label of @platforms) of an OCI platform of PLATFORM_CPUS, else None."""
    cpu = PLATFORM_CPUS.get(platform)
    return Label("@platforms//cpu:" + cpu) if cpu else None

def oci_platform_of(target_platform):
    """The OCI name of a Bazel platform of `//py/platforms`.

    Args:
        target_platform: a platform's Label.

    Returns:
        Its OCI name (`linux/arm64`), or None for a platform of another package.
    """
    if target_platform.workspace_name != Label("//py/platforms").workspace_name or target_platform.package != "py/platforms":
        return None
    for platform in PLATFORM_CPUS:
        if platform_suffix(platform) == target_platform.name:
            return platform
    return None

def checked_target_platform(label, platform, target_platform):
    """Fails when `target_platform` is a platform of `//py/platforms` other than `platform`.

    Args:
        label: the target's label, for messages.
        platform: its `platform` attribute (OCI's name).
        target_platform: its `target_platform` attribute (a Target), or None.
    """
    if not target_platform:
        return
    oci = oci_platform_of(target_platform.label)
    if oci != None and oci != platform:
        fail("{}: target_platform {} is {}, but platform = \"{}\"; set platform = \"{}\"".format(
            label,
            target_platform.label,
            oci,
            platform,
            oci,
        ))

def checked_platforms(owner, platforms, platform = None):
    """`platforms` of a macro, checked, with the Bazel platform of each; fails naming the target otherwise.

    A list names OCI platforms of PLATFORM_CPUS, each built for its platform
    of `//py/platforms`; a dict maps OCI names (`os/arch[/variant]`) to
    users' own Bazel platforms (labels, as strings relative to the BUILD
    file, or Labels).

    Args:
        owner: the macro and its target, for messages (`py_image //pkg:name`).
        platforms: the `platforms` argument.
        platform: the macro's `platform` argument, which may not be given too.

    Returns:
        A dict: OCI name -> the Bazel platform to build it for (a Label of
        `//py/platforms`, or the user's label as given), in the given order.
    """
    if platform != None:
        fail("{}: give `platform` (one platform) or `platforms` (an image index), not both".format(owner))
    if type(platforms) == "dict" and platforms:
        for platform, label in platforms.items():
            if type(platform) != "string" or type(label) not in ("string", "Label"):
                fail("{}: platforms maps {} to {}; map each os/arch[/variant] to the label of a Bazel platform".format(owner, platform, label))
            if not is_oci_platform(platform):
                fail("{}: platforms holds \"{}\", which is not os/arch[/variant] (OCI's names, lowercase); use e.g. \"linux/arm64\"".format(owner, platform))
        return dict(platforms)
    if type(platforms) != "list" or not platforms:
        fail("{}: platforms must be a non-empty list of os/arch[/variant], e.g. [\"linux/amd64\", \"linux/arm64\"], or a dict of them to Bazel platforms".format(owner))
    seen = {}
    for platform in platforms:
        if type(platform) != "string":
            fail("{}: platforms holds {} ({}), not an os/arch[/variant] string".format(owner, platform, type(platform)))
        if platform not in PLATFORM_CPUS:
            fail("{}: platform \"{}\" is not one rules_pyimage builds for; use one of {} (//py/platforms), or map it to a Bazel platform of yours: platforms = {{\"{}\": \"//my/platforms:it\"}}".format(
                owner,
                platform,
                ", ".join(sorted(PLATFORM_CPUS)),
                platform,
            ))
        if platform in seen:
            fail("{}: platform \"{}\" is given twice in platforms; give it once".format(owner, platform))
        seen[platform] = bazel_platform(platform)
    return seen

def _target_platform_transition_impl(settings, attr):
    if attr.target_platform:
        return {"//command_line_option:platforms": str(attr.target_platform)}
    return {"//command_line_option:platforms": settings["//command_line_option:platforms"]}

# A rule's own transition (its `cfg`): to the platform of its
# `target_platform` attribute, when it has one; else none at all (the
# configuration stays the same, and so do output paths and cache keys).
target_platform_transition = transition(
    implementation = _target_platform_transition_impl,
    inputs = ["//command_line_option:platforms"],
    outputs = ["//command_line_option:platforms"],
)

TARGET_PLATFORM_ATTRS = {
    "target_platform": attr.label(
        providers = [platform_common.PlatformInfo],
        doc = "The Bazel platform to build this target, and so its `binary` and pip packages, for (a transition: a `select()` in the binary's `deps` or in `base` sees it); `py_image(platforms = ...)` sets it to `@rules_pyimage//py/platforms:<os>_<arch>`. Default: none, the build's own platform. `platform` names the same platform in OCI's terms.",
    ),
}

# buildifier: disable=unnamed-macro
def declare_platforms():
    """Declares `//py/platforms`: a `platform` and a `config_setting` (`is_...`) per entry of PLATFORM_CPUS."""
    for platform, cpu in sorted(PLATFORM_CPUS.items()):
        constraints = [
            "@platforms//os:" + platform.split("/")[0],
            "@platforms//cpu:" + cpu,
        ]
        native.platform(
            name = platform_suffix(platform),
            constraint_values = constraints,
            visibility = ["//visibility:public"],
        )
        native.config_setting(
            name = "is_" + platform_suffix(platform),
            constraint_values = constraints,
            visibility = ["//visibility:public"],
        )
