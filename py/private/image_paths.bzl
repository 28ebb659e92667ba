"""Where things live: inside images built by rules_pyimage, and in runfiles trees."""

visibility(["//py/..."])

# Every pip package's files, merged into one folder, whatever the binary or
# the image: a package's layer has the same bytes in every image that uses it.
SITE_PACKAGES = "opt/pyimage/site-packages"

# The Python interpreter's files, when the toolchain brings them (a hermetic
# toolchain): one layer, the same in every image built with that toolchain.
INTERPRETER_ROOT = "opt/pyimage/python"

# First-party libraries that are layers of their own (`tags = ["pyimage_layer"]`):
# each file at `<LIBRARIES_ROOT>/<its runfiles path>`, the same in every image;
# a binary's runfiles tree links to it.
LIBRARIES_ROOT = "opt/pyimage/libraries"

# The binary's own files: `<APP_ROOT>/<binary>.runfiles/...`.
APP_ROOT = "app"

def runfiles_path(ctx, f):
    """The path of `f` inside a runfiles tree (`<repo>/<path>`).

    Args:
        ctx: the rule context (for the main repository's name).
        f: a File.

    Returns:
        The path, e.g. `_main/app/main.py` or `rules_python~~pip~pypi_six/site-packages/six.py`.
    """
    if f.short_path.startswith("../"):
        return f.short_path[3:]
    return ctx.workspace_name + "/" + f.short_path
