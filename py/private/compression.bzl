"""How the layers are compressed: the `compression` attribute, zstd's level flag and toolchain.

`compression = "gzip"` (default) or `"zstd"`, per image (`py_image`,
`py_image_layers`); every layer an image builds (packages, interpreter, app)
has it, and in a fleet every image has the fleet's (a layer's identity
includes its compression: the lock records it). zstd layers run the zstd
binary of aspect_bazel_lib's zstd toolchain type (rules_oci registers
aspect_bazel_lib's, which pins zstd 1.5.6), at the level of
`--@rules_pyimage//py:zstd_level` (1 to 19, default 3).
"""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")

visibility(["//py/..."])

COMPRESSIONS = ["gzip", "zstd"]

# The suffix of a blob of each compression (rules_oci's `tars` take these).
SUFFIXES = {"gzip": "tar.gz", "zstd": "tar.zst"}

ZSTD_TOOLCHAIN = "@aspect_bazel_lib//lib:zstd_toolchain_type"

ZSTD_LEVEL_FLAG = "@rules_pyimage//py:zstd_level"

# zstd levels 20 to 22 need --ultra and much memory.
ZSTD_LEVELS = range(1, 20)

# Rules and aspects that write or merge layers resolve it only when they need it.
ZSTD_TOOLCHAIN_OPTIONAL = config_common.toolchain_type(ZSTD_TOOLCHAIN, mandatory = False)

COMPRESSION_DOC = "How the image's layers are compressed: `gzip` (default) or `zstd` (`application/vnd.oci.image.layer.v1.tar+zstd`, smaller and several times faster to write and to unpack; Docker 23+, containerd 1.5+, podman and CRI-O pull it). zstd runs the binary of aspect_bazel_lib's zstd toolchain (rules_oci registers it) at `--@rules_pyimage//py:zstd_level` (default 3). Every image of a fleet must have the fleet's."

# The attributes of every rule that writes or merges layers (`compression`
# is the aspect's parameter too: the same name, the same values).
COMPRESSION_ATTRS = {
    "compression": attr.string(default = "gzip", values = COMPRESSIONS, doc = COMPRESSION_DOC),
    "_zstd_level": attr.label(default = Label("//py:zstd_level")),
}

def compression_of(ctx, name, also = []):
    """What the layer actions of `ctx` need to compress as `name` says.

    Args:
        ctx: a rule or aspect context with COMPRESSION_ATTRS and the optional zstd toolchain.
        name: `gzip` or `zstd`.
        also: the compressions some of its layers have besides (a layer
            group's own, `group_compression`): the zstd program is given
            when one of them is zstd too.

    Returns:
        struct(name, suffix, args, inputs): `args` the pyimage flags
        (`--compression`, and for zstd `--zstd-level`, `--zstd`), `inputs`
        the files the action needs (the zstd binary).
    """
    args = ["--compression=" + name]
    if name != "zstd" and "zstd" not in also:
        return struct(name = name, suffix = SUFFIXES[name], args = args, inputs = [])
    toolchain = ctx.toolchains[ZSTD_TOOLCHAIN]
    if toolchain == None:
        fail("compression \"zstd\" (of the image, or a layer group's in group_compression) needs a toolchain of type {} (rules_oci registers aspect_bazel_lib's): register one, e.g. `zstd_toolchain(binary = ...)` of @aspect_bazel_lib//lib/private:zstd_toolchain.bzl with `register_toolchains`, or use \"gzip\"".format(ZSTD_TOOLCHAIN))
    level = ctx.attr._zstd_level[BuildSettingInfo].value
    if level not in ZSTD_LEVELS:
        fail("--{}={} is out of range: use 1 to 19 (default 3)".format(ZSTD_LEVEL_FLAG, level))
    binary = toolchain.zstdinfo.binary
    return struct(
        name = name,
        suffix = SUFFIXES[name],
        args = args + ["--zstd-level={}".format(level), "--zstd=" + binary.path],
        inputs = [binary],
    )

def merge_args(compression):
    """The flags of a merge-only action (no `--compression`: its members say it).

    Args:
        compression: what `compression_of` gave.

    Returns:
        A list of pyimage flags.
    """
    return [a for a in compression.args if not a.startswith("--compression=")]
