"""Where things live inside images built by rules_pyimage."""

# Every pip package's files, merged into one folder, whatever the binary or
# the image: a package's layer has the same bytes in every image that uses it.
SITE_PACKAGES = "opt/pyimage/site-packages"
