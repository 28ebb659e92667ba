"""Where things live inside images built by rules_pyimage."""

# Every pip package's files, merged into one folder, whatever the binary or
# the image: a package's layer has the same bytes in every image that uses it.
SITE_PACKAGES = "opt/pyimage/site-packages"

# The Python interpreter's files, when the toolchain brings them (a hermetic
# toolchain): one layer, the same in every image built with that toolchain.
INTERPRETER_ROOT = "opt/pyimage/python"

# The binary's own files: `<APP_ROOT>/<binary>.runfiles/...`.
APP_ROOT = "app"
