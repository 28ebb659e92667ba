"""Layers users declare on top of the automatic plan: `layer_groups`, `alone_packages`, `group_compression`.

An image declares them (`py_image`, `py_image_layers`), or a fleet
(`py_image_fleet`) for all its images; an image of a fleet follows its
fleet's, which its lock records. pyimage checks and plans them
(tools/pyimage/planner/declared.py); this only carries them to it.
"""

load(":compression.bzl", "COMPRESSIONS")

visibility(["//py/..."])

DECLARED_LAYERS_ATTRS = {
    "alone_packages": attr.string_list(
        doc = "Packages (normalized names or globs: `numpy`, `nvidia-*`) each kept in a layer of its own, never merged with another. In a fleet, the fleet's (`py_image_fleet`).",
    ),
    "layer_groups": attr.string_list_dict(
        doc = "Groups of packages (normalized names or globs) that travel together, each one layer: `{\"gpu\": [\"torch\", \"triton\", \"nvidia-*\"]}`. An image's members of a group form its layer (torch alone on a CPU image); the other packages are planned around the groups under the same cap. A pattern that matches no package, or a package claimed by two groups (or a group and `alone_packages`), fails the build in one line. In a fleet, the fleet's (`py_image_fleet`).",
    ),
    "group_compression": attr.string_dict(
        doc = "A layer group's own compression, `gzip` or `zstd`, when it is not the image's: `{\"gpu\": \"zstd\"}`. The image's action compresses the group's packages again (the layer is byte for byte the one of its packages built in that compression); in a fleet, the fleet merges each such layer once, from its packages built in that compression, even a group of one package. zstd needs the zstd toolchain (see `compression`). In a fleet, the fleet's (`py_image_fleet`).",
    ),
}

def declared_layers(attr, where, compression = None):
    """The declaration as pyimage reads it, or None when there is none.

    Args:
        attr: the attributes of a rule with DECLARED_LAYERS_ATTRS.
        where: how errors name the target.
        compression: the image's compression, which no group may choose
            again (None for a fleet: pyimage checks its images').

    Returns:
        A dict (`{"alone": [...], "groups": {...}}`, and `"compression"`
        when a group chooses its own), or None.
    """
    groups, alone, chosen = attr.layer_groups, attr.alone_packages, attr.group_compression
    for name, value in sorted(chosen.items()):
        if name not in groups:
            fail("{}: group_compression names {}, which is no layer group; name a group of layer_groups ({})".format(where, repr(name), ", ".join(sorted(groups)) or "there is none"))
        if value not in COMPRESSIONS:
            fail("{}: group_compression gives layer group {} the compression {}; use one of {}".format(where, repr(name), repr(value), ", ".join(COMPRESSIONS)))
        if value == compression:
            fail("{}: group_compression gives layer group {} the compression {}, which the image has anyway; drop it".format(where, repr(name), value))
    if not groups and not alone:
        return None
    out = {"alone": alone, "groups": groups}
    if chosen:
        out["compression"] = chosen
    return out

def chosen_compressions(declared):
    """The compressions the layer groups of a declaration choose (`declared_layers`'s result)."""
    return sorted({c: None for c in (declared or {}).get("compression", {}).values()}.keys())
