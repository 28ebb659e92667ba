"""`pip_packages_aspect`: finds the pip packages a py_binary depends on."""

load(":providers.bzl", "PyImagePackagesInfo", "PyPipPackageInfo")

_NAME_TAG = "pypi_name="
_VERSION_TAG = "pypi_version="

# Attributes the aspect follows: py_* deps, and `actual` for the aliases and
# hubs rules_python generates (`@pypi//six` -> `@pypi_six//:pkg`).
_ATTR_ASPECTS = ["deps", "actual"]

def pip_package_tags(tags):
    """The (name, version) of a pip package from its tags, or None.

    Args:
        tags: the target's tags.

    Returns:
        A (name, version) tuple when both tags are present, else None.
    """
    name = None
    version = None
    for tag in tags:
        if tag.startswith(_NAME_TAG):
            name = tag[len(_NAME_TAG):]
        elif tag.startswith(_VERSION_TAG):
            version = tag[len(_VERSION_TAG):]
    if name and version:
        return (name, version)
    if name or version:
        fail("pip package tags are incomplete: a target has {} but not {}; rules_python sets both".format(
            _NAME_TAG if name else _VERSION_TAG,
            _VERSION_TAG if name else _NAME_TAG,
        ))
    return None

def _deps_of(ctx):
    deps = []
    for attr in _ATTR_ASPECTS:
        value = getattr(ctx.rule.attr, attr, None)
        if value == None:
            continue
        if type(value) != "list":
            value = [value]
        deps.extend([d for d in value if PyImagePackagesInfo in d])
    return deps

def _package_info(target, ctx, name, version):
    imports = getattr(ctx.rule.attr, "imports", [])
    if len(imports) != 1:
        fail("pip package {} ({}): expected one `imports` entry (rules_python sets `site-packages`), got {}".format(
            name,
            target.label,
            imports,
        ))
    files = depset(
        transitive = [
            depset(getattr(ctx.rule.files, "srcs", [])),
            depset(getattr(ctx.rule.files, "data", [])),
        ],
    )
    return PyPipPackageInfo(
        name = name,
        version = version,
        id = "{}=={}".format(name, version),
        label = target.label,
        import_root = imports[0],
        files = files,
    )

def _pip_packages_aspect_impl(target, ctx):
    deps = _deps_of(ctx)
    tags = pip_package_tags(ctx.rule.attr.tags)
    direct = []
    direct_files = []
    if tags:
        package = _package_info(target, ctx, tags[0], tags[1])
        direct.append(package)
        direct_files.append(package.files)
    return [PyImagePackagesInfo(
        packages = depset(direct, transitive = [d[PyImagePackagesInfo].packages for d in deps]),
        package_files = depset(transitive = direct_files + [d[PyImagePackagesInfo].package_files for d in deps]),
    )]

pip_packages_aspect = aspect(
    implementation = _pip_packages_aspect_impl,
    attr_aspects = _ATTR_ASPECTS,
    provides = [PyImagePackagesInfo],
    doc = """Walks a target's `deps` (and the `actual` of aliases) and gathers
every pip package of rules_python's `pip.parse` under it into
`PyImagePackagesInfo`. Packages are told by their `pypi_name=` and
`pypi_version=` tags; untagged targets on the way (hub aliases, the group
libraries rules_python makes for dependency cycles, first-party
`py_library`s) are walked through.""",
)
