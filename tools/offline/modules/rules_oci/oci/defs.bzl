"""Offline stand-in for `@rules_oci//oci:defs.bzl` (see ../MODULE.bazel).

Exports what rules_oci 2.3.2's `defs.bzl` exports (the `oci_image`,
`oci_image_index`, `oci_load` and `oci_push` macros and the `*_rule` forms),
with the same attributes, the same checks at analysis time (single-file
attributes, accepted extensions, mandatory attributes, allowed values, the
checks the implementations make before any action) and the same outputs,
output groups and extra macro targets (`<name>.digest`). Everything analyses
as with the real rules_oci and fails where it fails; building any action
fails with one clear line, since rules_oci's tools (regctl, tar.bzl's bsdtar)
cannot be had offline.

Facts from rules_oci's sources (oci/defs.bzl, oci/private/image.bzl,
image_index.bzl, load.bzl, push.bzl at v2.3.2); none of its code.
"""

load("@bazel_skylib//lib:types.bzl", "types")
load("@bazel_skylib//rules:write_file.bzl", "write_file")

_WHY = ("rules_oci cannot run offline (its regctl and the tar.bzl module are not " +
        "available here): {kind} {label} was not built. Build it with network " +
        "and the real rules_oci, or test the image with the umoci-based e2e tests.")

# The layer files `oci_image`'s `tars` accepts (rules_oci's
# _ACCEPTED_TAR_EXTENSIONS): no directories, no other extension.
_TAR_EXTENSIONS = [".tar", ".tgz", ".tar.gz", ".tzst", ".tar.zst"]

def _cannot_run(ctx, kind, outputs, inputs):
    """The one action of a stand-in target: it fails, saying why."""
    ctx.actions.run_shell(
        outputs = outputs,
        inputs = inputs,
        command = "echo \"$1\" >&2; exit 1",
        arguments = [_WHY.format(kind = kind, label = str(ctx.label))],
        mnemonic = "RulesOciOffline",
        progress_message = "rules_oci is unavailable offline: %{label}",
    )

def _oci_image_impl(ctx):
    if not ctx.attr.base and not (ctx.attr.os and ctx.attr.architecture):
        fail("oci_image {}: without a 'base', 'os' and 'architecture' are required".format(ctx.label))
    if ctx.attr.base and (ctx.attr.os or ctx.attr.architecture or ctx.attr.variant):
        fail("oci_image {}: 'os', 'architecture' and 'variant' come from the 'base' image and cannot be set with it".format(ctx.label))
    output = ctx.actions.declare_directory(ctx.label.name)
    inputs = ctx.files.tars + ctx.files.base
    for attr in ["entrypoint", "cmd", "env", "labels", "annotations", "exposed_ports", "volumes", "created"]:
        inputs.extend(getattr(ctx.files, attr))
    _cannot_run(ctx, "oci_image", [output], inputs)
    return [DefaultInfo(files = depset([output]))]

def _single_file(doc):
    return attr.label(allow_single_file = True, doc = doc)

oci_image_rule = rule(
    implementation = _oci_image_impl,
    doc = "rules_oci's `oci_image` rule: an OCI layout directory named after the target.",
    attrs = {
        "annotations": _single_file("A file of `name=value` lines: manifest annotations."),
        "architecture": attr.string(doc = "CPU architecture; only without `base`."),
        "base": _single_file("The base image: one file, an OCI layout directory."),
        "cmd": _single_file("A file of arguments, one a line (`%5Cn` is a newline)."),
        "created": _single_file("A file holding the creation time."),
        "entrypoint": _single_file("A file of arguments, one a line (`%5Cn` is a newline)."),
        "env": _single_file("A file of `KEY=VALUE` lines; `$KEY` and `${KEY}` expand from the base's environment."),
        "exposed_ports": _single_file("A file: comma-separated ports."),
        "labels": _single_file("A file of `name=value` lines: config labels."),
        "os": attr.string(doc = "Operating system; only without `base`."),
        "tars": attr.label_list(allow_files = _TAR_EXTENSIONS, doc = "Layer tarballs, bottom to top."),
        "user": attr.string(doc = "The user the process runs as."),
        "variant": attr.string(doc = "CPU variant; only without `base`."),
        "volumes": _single_file("A file: comma-separated volumes."),
        "workdir": attr.string(doc = "The working directory."),
    },
)

def _index_platforms_impl(_settings, attr):
    # rules_oci's split transition of `images`: one configuration per
    # platform of `platforms`; none (an empty list: no transition) without.
    return [{"//command_line_option:platforms": str(p)} for p in attr.platforms]

_index_platforms = transition(
    implementation = _index_platforms_impl,
    inputs = [],
    outputs = ["//command_line_option:platforms"],
)

def _oci_image_index_impl(ctx):
    # rules_oci's check, as it makes it: after the split, `images` holds one
    # target per image and platform, so only one image goes with `platforms`.
    if ctx.attr.platforms and len(ctx.attr.images) != len(ctx.attr.platforms):
        fail("platforms can only be specified when there is exactly one image in the images attribute.")
    output = ctx.actions.declare_directory(ctx.label.name)
    _cannot_run(ctx, "oci_image_index", [output], ctx.files.images + ctx.files.annotations)
    return [DefaultInfo(files = depset([output]))]

oci_image_index_rule = rule(
    implementation = _oci_image_index_impl,
    doc = "rules_oci's `oci_image_index` rule: an OCI layout directory of several images.",
    attrs = {
        "annotations": _single_file("A file of `name=value` lines: index annotations."),
        "images": attr.label_list(mandatory = True, cfg = _index_platforms, doc = "The `oci_image` targets (each built for every platform of `platforms`, when given)."),
        "platforms": attr.label_list(providers = [platform_common.PlatformInfo], doc = "Platforms to build the one image for."),
        "_allowlist_function_transition": attr.label(default = "@bazel_tools//tools/allowlists/function_transition_allowlist"),
    },
)

def _oci_load_impl(ctx):
    loader = ctx.actions.declare_file(ctx.label.name + ".sh")
    tarball = ctx.actions.declare_file("{}/tarball.tar".format(ctx.label.name))
    inputs = [ctx.file.image, ctx.file.repo_tags]
    _cannot_run(ctx, "oci_load", [loader], inputs)
    _cannot_run(ctx, "oci_load", [tarball], inputs)
    return [
        DefaultInfo(executable = loader),
        OutputGroupInfo(tarball = depset([tarball])),
    ]

# rules_oci's `defs.bzl` exports its load rule under this older name.
oci_tarball_rule = rule(
    implementation = _oci_load_impl,
    executable = True,
    doc = "rules_oci's `oci_load` rule (`oci_tarball_rule`): `bazel run` loads the image; output group `tarball`.",
    attrs = {
        "format": attr.string(default = "docker", values = ["docker", "oci"], doc = "`docker` or `oci`."),
        "image": attr.label(mandatory = True, allow_single_file = True, doc = "The `oci_image` (one directory)."),
        "loader": attr.label(allow_files = True, executable = True, cfg = "target", doc = "The runtime CLI to load with."),
        "repo_tags": attr.label(mandatory = True, allow_single_file = [".txt"], doc = "A `.txt` file of `repository:tag` lines."),
    },
)

def _oci_push_impl(ctx):
    if not ctx.file.image.is_directory:
        fail("oci_push {}: 'image' must be an oci_image or oci_image_index (a directory)".format(ctx.label))
    repository = ctx.attr.repository
    if "@" in repository or ":" in repository.rpartition("/")[2]:
        fail("oci_push {}: 'repository' must not hold a tag or digest: {}".format(ctx.label, repository))
    pusher = ctx.actions.declare_file("push_{}.sh".format(ctx.label.name))
    _cannot_run(ctx, "oci_push", [pusher], [ctx.file.image] + ctx.files.remote_tags + ctx.files.repository_file)
    return [DefaultInfo(executable = pusher)]

oci_push_rule = rule(
    implementation = _oci_push_impl,
    executable = True,
    doc = "rules_oci's `oci_push` rule.",
    attrs = {
        "image": attr.label(mandatory = True, allow_single_file = True, doc = "The `oci_image` or `oci_image_index`."),
        "remote_tags": _single_file("A file of tags, one a line."),
        "repository": attr.string(doc = "Where to push, without tag or digest."),
        "repository_file": _single_file("The repository, in a file."),
    },
)

def _digest_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name.removesuffix(".digest") + ".json.sha256")
    _cannot_run(ctx, "oci_image digest", [out], ctx.files.image)
    return [DefaultInfo(files = depset([out]))]

_digest = rule(
    implementation = _digest_impl,
    attrs = {"image": attr.label(mandatory = True, allow_single_file = True)},
)

_COMMON = ["tags", "visibility", "testonly", "target_compatible_with", "compatible_with", "exec_compatible_with"]

def _common(kwargs):
    """The common attributes among a macro's keywords (`.digest` gets them as given)."""
    return {k: v for k, v in kwargs.items() if k in _COMMON}

def _internal(kwargs):
    """Common attributes for a macro's helper targets: as given, plus `manual`."""
    out = _common(kwargs)
    tags = list(out.get("tags", []))
    out["tags"] = tags if "manual" in tags else tags + ["manual"]
    return out

def _to_file(name, attr, value, lines, kwargs):
    """`value` as given when it is a label; else a `<name>.<attr>.txt` of `lines`."""
    if value == None or types.is_string(value):
        return value
    write_file(
        name = "{}_write_{}".format(name, attr),
        out = "{}.{}.txt".format(name, attr),
        content = lines,
        **_internal(kwargs)
    )
    return ":{}_write_{}".format(name, attr)

def _pairs(value):
    return ["{}={}".format(k, v) for k, v in value.items()] if types.is_dict(value) else value

def _args(value):
    return [a.replace("\n", "%5Cn") for a in value] if types.is_list(value) else value

def _joined(value):
    return [",".join(value)] if types.is_list(value) else value

def oci_image(name, annotations = None, labels = None, env = None, cmd = None, entrypoint = None, exposed_ports = None, volumes = None, **kwargs):
    """rules_oci's `oci_image` macro: dicts and lists become files; adds `<name>.digest`.

    Args:
        name: target name.
        annotations: dict or file of manifest annotations.
        labels: dict or file of config labels.
        env: dict or file of `KEY=VALUE`; `$KEY`/`${KEY}` expand from the base.
        cmd: list or file (one argument a line).
        entrypoint: list or file (one argument a line).
        exposed_ports: list or file.
        volumes: list or file.
        **kwargs: the rule's other attributes and common attributes.
    """
    oci_image_rule(
        name = name,
        annotations = _to_file(name, "annotations", annotations, _pairs(annotations), kwargs),
        labels = _to_file(name, "labels", labels, _pairs(labels), kwargs),
        env = _to_file(name, "env", env, _pairs(env), kwargs),
        cmd = _to_file(name, "cmd", cmd, _args(cmd), kwargs),
        entrypoint = _to_file(name, "entrypoint", entrypoint, _args(entrypoint), kwargs),
        exposed_ports = _to_file(name, "exposed_ports", exposed_ports, _joined(exposed_ports), kwargs),
        volumes = _to_file(name, "volumes", volumes, _joined(volumes), kwargs),
        **kwargs
    )
    _digest(name = name + ".digest", image = ":" + name, **_common(kwargs))

def oci_image_index(name, annotations = None, **kwargs):
    """rules_oci's `oci_image_index` macro; adds `<name>.digest`.

    Args:
        name: target name.
        annotations: dict or file of index annotations.
        **kwargs: the rule's other attributes and common attributes.
    """
    oci_image_index_rule(
        name = name,
        annotations = _to_file(name, "annotations", annotations, _pairs(annotations), kwargs),
        **kwargs
    )
    _digest(name = name + ".digest", image = ":" + name, **_common(kwargs))

def oci_load(name, repo_tags = None, **kwargs):
    """rules_oci's `oci_load` macro: a list of tags becomes `<name>.tags.txt`.

    Args:
        name: target name.
        repo_tags: list of `repository:tag`, or a `.txt` file of them (mandatory).
        **kwargs: the rule's other attributes and common attributes.
    """
    oci_tarball_rule(
        name = name,
        repo_tags = _to_file(name, "tags", repo_tags, repo_tags, kwargs),
        **kwargs
    )

def oci_push(name, remote_tags = None, **kwargs):
    """rules_oci's `oci_push` macro: a list of tags becomes `<name>.tags.txt`.

    Args:
        name: target name.
        remote_tags: list of tags, or a file of them.
        **kwargs: the rule's other attributes and common attributes.
    """
    oci_push_rule(
        name = name,
        remote_tags = _to_file(name, "tags", remote_tags, remote_tags, kwargs),
        **kwargs
    )
