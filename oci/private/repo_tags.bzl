"""Image references for `oci_load`: the default `repository:tag` of a `py_image`.

The grammar is the OCI distribution spec's (also Docker's and podman's):
a repository is path components separated by `/`, each one or more runs of
lowercase letters and digits joined by one separator: `.`, `_`, `__` or one
or more `-`; at most 255 characters in all. A tag is
`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. Bazel package and target names allow
much more (capitals, `+`, `@`, `=`, a leading `_`, ...), so the default is
made to fit rather than copied.
"""

visibility(["//oci/..."])

_LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_TAG_CHARS = _LOWER_ALNUM + "ABCDEFGHIJKLMNOPQRSTUVWXYZ_.-"
_MAX_REPOSITORY = 255
_MAX_TAG = 128

def _separator(run):
    """A run of non-alphanumerics between two words, as a valid separator: itself or `-`."""
    return run if run in [".", "_", "__", "-"] else "-"

def _component(text):
    """`text` as one repository path component; "" when it has no letter or digit."""
    out = ""
    run = ""  # the non-alphanumerics since the last letter or digit
    for c in text.lower().elems():
        if c in _LOWER_ALNUM:
            if run and out:
                out += _separator(run)
            run = ""
            out += c
        else:
            run += c
    return out

def _repository(package):
    """`bazel/<package>` made valid: one component per package folder with a letter or digit."""
    parts = ["bazel"] + [c for c in [_component(p) for p in package.split("/")] if c]
    if len(parts) == 1:
        parts.append("root")
    repo = "/".join(parts)
    if len(repo) > _MAX_REPOSITORY:
        repo = repo[:_MAX_REPOSITORY].rstrip("._-/")
    return repo

def _tag(name):
    """The target name as a tag: other characters become `_`; never starts with `.` or `-`."""
    tag = "".join([c if c in _TAG_CHARS else "_" for c in name.elems()])
    if tag[0] in ".-":
        tag = "_" + tag
    return tag[:_MAX_TAG]

def default_repo_tag(package, name):
    """The default `repository:tag` of image `name` in Bazel package `package`.

    Args:
        package: the Bazel package (`native.package_name()`), "" for the root.
        name: the image target's name.

    Returns:
        `bazel/<package>:<name>`, changed only as far as the reference grammar
        requires: e.g. `apps/_internal:Image+1` gives `bazel/apps/internal:Image_1`.
    """
    return "{}:{}".format(_repository(package), _tag(name))

def _repo_tags_file_impl(ctx):
    f = ctx.file.src
    if f.is_directory or not f.basename.endswith(".txt"):
        fail("py_image {}: repo_tags {} is `{}`, but rules_oci's oci_load reads tags only from a `.txt` file (one `repository:tag` a line): name the file `*.txt`, or give a list".format(ctx.attr.image, ctx.attr.src.label, f.basename))
    return [DefaultInfo(files = depset([f]))]

repo_tags_file = rule(
    implementation = _repo_tags_file_impl,
    doc = "Passes on a `py_image`'s `repo_tags` file, refusing any but a `.txt` file (what rules_oci's `oci_load` takes).",
    attrs = {
        "image": attr.string(doc = "The image, for the error message."),
        "src": attr.label(mandatory = True, allow_single_file = True, doc = "The tags file."),
    },
)
