"""Offline stand-in for `@rules_oci//oci:defs.bzl` (see ../MODULE.bazel).

Same macro names and attributes as rules_oci 2.x; analysis works, and
building any of these targets fails with one clear line.
"""

load("@bazel_skylib//lib:types.bzl", "types")

_WHY = ("rules_oci cannot run offline (its regctl and the tar.bzl module are not " +
        "available here): {kind} {label} was not built. Build it with network " +
        "and the real rules_oci, or test the image with the umoci-based e2e tests.")

def _unavailable_impl(ctx):
    if ctx.attr.kind == "oci_image":
        out = ctx.actions.declare_directory(ctx.label.name)
    else:
        out = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.run_shell(
        outputs = [out],
        inputs = ctx.files.srcs,
        command = "echo \"$1\" >&2; exit 1",
        arguments = [_WHY.format(kind = ctx.attr.kind, label = str(ctx.label))],
        mnemonic = "RulesOciOffline",
        progress_message = "rules_oci is unavailable offline: %{label}",
    )
    if ctx.attr.kind == "oci_image":
        return [DefaultInfo(files = depset([out]))]
    return [DefaultInfo(files = depset([out]), executable = out)]

def _rule(executable):
    return rule(
        implementation = _unavailable_impl,
        executable = executable,
        attrs = {
            "kind": attr.string(mandatory = True),
            "srcs": attr.label_list(allow_files = True),
        },
    )

_unavailable = _rule(executable = False)
_unavailable_executable = _rule(executable = True)

def _labels_of(value):
    """The labels among an attribute value: a label string, a list, or neither."""
    if types.is_string(value) and (value.startswith(":") or value.startswith("//") or value.startswith("@")):
        return [value]
    if types.is_list(value):
        return [v for v in value if types.is_string(v) and (v.startswith(":") or v.startswith("//") or v.startswith("@"))]
    return []

def oci_image(
        name,
        base = None,
        tars = [],
        entrypoint = None,
        cmd = None,
        env = None,
        user = None,
        workdir = None,
        exposed_ports = None,
        volumes = None,
        os = None,
        architecture = None,
        variant = None,
        labels = None,
        annotations = None,
        created = None,
        **kwargs):
    """rules_oci's `oci_image`; its build fails offline.

    Args:
        name: target name.
        base: an OCI layout directory to build on.
        tars: layer tarballs to append.
        entrypoint: entrypoint, a list or a file.
        cmd: command, a list or a file.
        env: environment, a dict or a file.
        user: the user the process runs as.
        workdir: the working directory.
        exposed_ports: ports, a list or a file.
        volumes: volumes, a list or a file.
        os: the operating system.
        architecture: the CPU architecture.
        variant: the CPU variant.
        labels: config labels, a dict or a file.
        annotations: manifest annotations, a dict or a file.
        created: a file with the creation time.
        **kwargs: common attributes.
    """
    _unused = (user, workdir, os, architecture, variant)  # buildifier: disable=unused-variable
    srcs = list(tars)
    for value in [base, entrypoint, cmd, env, exposed_ports, volumes, labels, annotations, created]:
        srcs.extend(_labels_of(value))
    _unavailable(name = name, kind = "oci_image", srcs = srcs, **kwargs)

def oci_load(name, image, repo_tags = None, format = None, loader = None, **kwargs):
    """rules_oci's `oci_load`; building or running it fails offline.

    Args:
        name: target name.
        image: the oci_image (or layout) to load.
        repo_tags: `repository:tag` list, or a file of them.
        format: `docker` or `oci`.
        loader: the loader binary.
        **kwargs: common attributes.
    """
    _unused = (format,)  # buildifier: disable=unused-variable
    srcs = [image] + _labels_of(repo_tags) + _labels_of(loader)
    _unavailable_executable(name = name, kind = "oci_load", srcs = srcs, **kwargs)

def oci_push(name, image, repository = None, remote_tags = None, **kwargs):
    """rules_oci's `oci_push`; building or running it fails offline.

    Args:
        name: target name.
        image: the oci_image or oci_image_index to push.
        repository: the repository to push to.
        remote_tags: tags, a list or a file.
        **kwargs: common attributes.
    """
    _unused = (repository,)  # buildifier: disable=unused-variable
    srcs = [image] + _labels_of(remote_tags)
    _unavailable_executable(name = name, kind = "oci_push", srcs = srcs, **kwargs)
