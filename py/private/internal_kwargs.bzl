"""The keyword arguments a macro gives the targets it makes for itself.

A macro's own helper targets (a `py_image`'s `.layers`, `.plan`, ...) get
only Bazel's common attributes that mean something on any rule, and the tag
`manual`: `bazel build //...` then builds them only as dependencies of the
targets users asked for, and a keyword argument meant for those (e.g.
`deprecation`, or an attribute only `oci_load` has) never reaches a rule that
does not take it.
"""

visibility(["//py/..."])

# Attributes common to all build rules (Bazel's "Common definitions") that
# are right on a helper target too. Left out: `deprecation` (it would warn
# about the macro's own dependencies), `toolchains` (Make variables only),
# `exec_group_compatible_with` and `aspect_hints` (newer Bazels), and the
# attributes of tests and binaries.
COMMON_ATTRS = [
    "compatible_with",
    "exec_compatible_with",
    "exec_properties",
    "features",
    "restricted_to",
    "tags",
    "target_compatible_with",
    "testonly",
    "visibility",
]

# Of those, the ones about where actions run, which native `filegroup` lacks.
EXEC_ATTRS = ["exec_compatible_with", "exec_properties"]

def internal_kwargs(kwargs, visibility = None, filegroup = False):
    """`kwargs` cut down to `COMMON_ATTRS`, with the tag `manual` added.

    Args:
        kwargs: the keyword arguments the macro was given.
        visibility: the helper target's visibility, when it is not the
            user's (e.g. public, for a target other packages must reach).
        filegroup: for a native `filegroup`, which runs no action and takes
            none of `EXEC_ATTRS`.

    Returns:
        A new dict: the common attributes of `kwargs`, `tags` with `manual`.
    """
    out = {
        k: v
        for k, v in kwargs.items()
        if k in COMMON_ATTRS and not (filegroup and k in EXEC_ATTRS)
    }
    tags = list(out.get("tags") or [])
    if "manual" not in tags:
        tags.append("manual")
    out["tags"] = tags
    if visibility != None:
        out["visibility"] = visibility
    return out
