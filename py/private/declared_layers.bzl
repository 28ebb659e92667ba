"""Layers users declare on top of the automatic plan: `layer_groups` and `alone_packages`.

An image declares them (`py_image`, `py_image_layers`), or a fleet
(`py_image_fleet`) for all its images; an image of a fleet follows its
fleet's, which its lock records. pyimage checks and plans them
(tools/pyimage/planner/declared.py); this only carries them to it.
"""

visibility(["//py/..."])

DECLARED_LAYERS_ATTRS = {
    "alone_packages": attr.string_list(
        doc = "Packages (normalized names or globs: `numpy`, `nvidia-*`) each kept in a layer of its own, never merged with another. In a fleet, the fleet's (`py_image_fleet`).",
    ),
    "layer_groups": attr.string_list_dict(
        doc = "Groups of packages (normalized names or globs) that travel together, each one layer: `{\"gpu\": [\"torch\", \"triton\", \"nvidia-*\"]}`. An image's members of a group form its layer (torch alone on a CPU image); the other packages are planned around the groups under the same cap. A pattern that matches no package, or a package claimed by two groups (or a group and `alone_packages`), fails the build in one line. In a fleet, the fleet's (`py_image_fleet`).",
    ),
}

def declared_layers(groups, alone):
    """The declaration as pyimage reads it, or None when there is none.

    Args:
        groups: the `layer_groups` attribute.
        alone: the `alone_packages` attribute.

    Returns:
        A dict (`{"alone": [...], "groups": {...}}`), or None.
    """
    if not groups and not alone:
        return None
    return {"alone": alone, "groups": groups}
