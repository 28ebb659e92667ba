"""`rules_python_shapes`: rules_python's pip targets, version by version, from real wheels.

CI can only run Debian's rules_python 0.22.1; users run 1.5 to 2.3. This
repository rule writes, from real PyPI wheels, the targets each of those
versions generates for a pip package (facts read in rules_python's sources,
summarised in docs/guide.md "rules_python versions"; none of its code):

- `rp022/`: 0.22. One tagged `:pkg` per package, the name PEP 503
  canonical, namespace shims written at repository time (`site-packages/`
  itself and every folder without an `__init__.py`), hub aliases straight to
  the spoke.
- `rp1x/`: 1.5 to 1.9 with pipstar (the default from 1.8). The tag holds the
  METADATA name (`jaraco.functools`, `Pygments`); namespace shims are
  build-time copies in `srcs`; the hub is two aliases deep.
- `rp2x/`: 2.x. A package with `Requires-Dist` lines gets the real library
  `:srcs` (with the wheel's `bin/`, `data/`, `include/` and RECORD in its
  data, and a build-time `bin/<console script>`) and a tagged wrapper `:pkg`
  over it; one without is a single tagged `:pkg`. Shims in their 2.1 form.

Each shape has `<shape>/pypi/<name>` (the hub, as `@pypi//<name>`) and
`<shape>/spokes/<name>` (the spoke, as `@pypi_<name>//`). The wheels are
pinned below and fetched with Bazel's downloader (checked by sha256).

- `patched/`: one package, `typing_extensions`, in the `rp1x` shape, whose
  module has one more line: the same `name==version` with other bytes, as a
  patched wheel, another platform's build or a second pip hub would give
  (the fleet's variant case).
"""

_PYPI = "https://files.pythonhosted.org/packages/"

# (wheel URL under _PYPI, sha256, canonical names of its unconditional
# Requires-Dist). Small wheels that between them hold every case: a
# namespace package (`jaraco/`), a console script (pygmentize), a C
# extension and a header (greenlet), a `.data/data` folder
# (jupyterlab_pygments), a top-level module file (typing_extensions).
WHEELS = [
    ("15/85/72f77fc02d00470c86a5c982b8daafdf65d38aefbbe441cebff3bf7037fc/greenlet-3.1.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "e347b3bfcf985a05e8c0b7d462ba6f15b1ee1c909e2dcad795e49e91b152c383", []),
    ("7f/66/b15ce62552d84bbfcec9a4873ab79d993a1dd4edb922cbfccae192bd5b5f/jaraco.classes-3.4.0-py3-none-any.whl", "f662826b6bed8cace05e7ff873ce0f9283b5c924470fe664fff1c2f00f581790", ["more-itertools"]),
    ("9f/4f/24b319316142c44283d7540e76c7b5a6dbd5db623abd86bb7b3491c21018/jaraco.functools-4.1.0-py3-none-any.whl", "ad159f13428bc4acbf5541ad6dec511f91573b90fba04df61dafa2a1231cf649", ["more-itertools"]),
    ("b1/dd/ead9d8ea85bf202d90cc513b533f9c363121c7792674f78e0d8a854b63b4/jupyterlab_pygments-0.3.0-py3-none-any.whl", "841a89020971da1d8693f1a99997aefc5dc424bb1b251fd6322462a1b8842780", []),
    ("48/7e/3a64597054a70f7c86eb0a7d4fc315b8c1ab932f64883a297bdffeb5f967/more_itertools-10.5.0-py3-none-any.whl", "037b0d3203ce90cca8ab1defbbdac29d5f993fc20131f3664dc8d6acfa872aef", []),
    ("f7/3f/01c8b82017c199075f8f788d0d906b9ffbbc5a47dc9918a945e13d5a2bda/pygments-2.18.0-py3-none-any.whl", "b8e6aca0523f3ab76fee51799c488e38782ac06eafcf95e7ba832985c8e7b13a", []),
    ("26/9f/ad63fc0248c5379346306f8668cda6e2e2e9c95e01216d2b8ffd9ff037d0/typing_extensions-4.12.2-py3-none-any.whl", "04e5ca0351e0f3f85c6853954072df659d0d13fac324d0072316b67d7794700d", []),
]

# Their hub names (`<shape>/pypi/<name>`).
PACKAGES = [
    "greenlet",
    "jaraco_classes",
    "jaraco_functools",
    "jupyterlab_pygments",
    "more_itertools",
    "pygments",
    "typing_extensions",
]

# rules_python's namespace shim, as each version writes it (its first line
# changed in 1.3, its second in 2.1).
_SHIM_022 = "# __path__ manipulation added by bazelbuild/rules_python to support namespace pkgs.\n__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
_SHIM_1X = "# __path__ manipulation added by bazel-contrib/rules_python to support namespace pkgs.\n__path__ = __import__(\"pkgutil\").extend_path(__path__, __name__)\n"
_SHIM_2X = "# __path__ manipulation added by bazel-contrib/rules_python to support namespace pkgs.\n__path__ = __import__(\"pkgutil\").extend_path(__path__, __name__)  # noqa: F821\n"

# The `*.dist-info/INSTALLER` each version writes (0.22.1; 1.5.1; 2.3.2,
# whose pipstar extractor marks it).
_INSTALLER = {
    "rp022": "https://github.com/bazelbuild/rules_python",
    "rp1x": "https://github.com/bazel-contrib/rules_python",
    "rp2x": "https://github.com/bazel-contrib/rules_python#pipstar",
}

# A wheel's `<dist>.data/<kind>` folders and where rules_python installs them.
_DATA_KINDS = {
    "data": "data",
    "headers": "include",
    "platlib": "site-packages",
    "purelib": "site-packages",
    "scripts": "bin",
}

_IMPORTABLE = (".py", ".pyc", ".pyd", ".so")

# The package of `patched/`, its module file and the line added to it.
PATCHED = "typing_extensions"
_PATCHED_FILE = "site-packages/typing_extensions.py"
PATCH_LINE = "# rules_pyimage tests: a second build of this release, with other bytes\n"

def _canonical(name):
    """PEP 503: lowercase, runs of `-_.` as one `-`."""
    out = ""
    for c in name.lower().elems():
        if c in "-_." and out.endswith("-"):
            continue
        out += "-" if c in "-_." else c
    return out

def _repo_name(name):
    return _canonical(name).replace("-", "_")

def _starlark_list(items):
    return "[" + ", ".join(['"{}"'.format(i) for i in items]) + "]"

def _walk(rctx, root):
    """(folder path relative to root, its file basenames) for root and each folder under it."""
    folders = []
    queue = [rctx.path(root)]
    for _ in range(100000):
        if not queue:
            break
        folder = queue.pop()
        files = []
        for child in folder.readdir():
            if child.is_dir:
                queue.append(child)
            else:
                files.append(child.basename)
        rel = str(folder)[len(str(rctx.path(root))):].lstrip("/")
        folders.append((rel, files))
    return sorted(folders)

def _shim_folders(rctx, site_packages):
    """Folders under site-packages that rules_python 1.5+ gives a shim.

    Each folder holding an importable file, and each of its ancestors, unless
    it has an `__init__.py`; never site-packages itself.
    """
    walked = _walk(rctx, site_packages)
    has_init = {rel: None for rel, files in walked if "__init__.py" in files}
    wanted = {}
    for rel, files in walked:
        if not rel or not [f for f in files if f.endswith(_IMPORTABLE)]:
            continue
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            folder = "/".join(parts[:i])
            if folder not in has_init:
                wanted[folder] = None
    return sorted(wanted)

def _install(rctx, wheel, basename, spoke, shape):
    """Unpack a wheel as rules_python installs it; its METADATA (name, version, console scripts, Requires-Dist)."""
    rctx.extract(wheel, output = spoke + "/site-packages")
    dist = basename.split("-")
    data_dir = spoke + "/site-packages/{}-{}.data".format(dist[0], dist[1])
    if rctx.path(data_dir).exists:
        for kind in rctx.path(data_dir).readdir():
            if kind.basename not in _DATA_KINDS:
                fail("{}: unknown wheel data folder {}".format(basename, kind.basename))
            rctx.extract(
                wheel,
                output = spoke + "/" + _DATA_KINDS[kind.basename],
                stripPrefix = "{}-{}.data/{}".format(dist[0], dist[1], kind.basename),
            )
        rctx.delete(data_dir)
    dist_info = spoke + "/site-packages/{}-{}.dist-info".format(dist[0], dist[1])
    rctx.file(dist_info + "/INSTALLER", _INSTALLER[shape])
    name = None
    requires_dist = False
    for line in rctx.read(dist_info + "/METADATA").splitlines():
        if line.startswith("Name:") and not name:
            name = line[len("Name:"):].strip()
        requires_dist = requires_dist or line.startswith("Requires-Dist:")
    scripts = []
    if rctx.path(dist_info + "/entry_points.txt").exists:
        group = None
        for line in rctx.read(dist_info + "/entry_points.txt").splitlines():
            line = line.strip()
            if line.startswith("["):
                group = line.strip("[]")
            elif group == "console_scripts" and "=" in line:
                script, target = [part.strip() for part in line.split("=", 1)]
                scripts.append((script, target))
    return struct(name = name, version = dist[1], scripts = scripts, requires_dist = requires_dist)

_SPOKE_HEADER = """load("@rules_python//python:defs.bzl", "py_library")

package(default_visibility = ["//visibility:public"])
"""

def _spoke_022(rctx, spoke, meta, deps):
    for folder in [""] + _shim_folders(rctx, spoke + "/site-packages"):
        rctx.file("{}/site-packages/{}__init__.py".format(spoke, folder + "/" if folder else ""), _SHIM_022)
    rctx.file(spoke + "/BUILD.bazel", _SPOKE_HEADER + """
py_library(
    name = "pkg",
    srcs = glob(["site-packages/**/*.py"], allow_empty = True),
    data = glob(["site-packages/**/*"], exclude = ["**/* *", "**/*.dist-info/RECORD", "**/*.py", "**/*.pyc"]),
    imports = ["site-packages"],
    tags = ["pypi_name={name}", "pypi_version={version}"],
    deps = {deps},
)
""".format(
        name = _canonical(meta.name),
        version = meta.version,
        deps = _starlark_list(["//rp022/spokes/{}:pkg".format(_repo_name(d)) for d in deps]),
    ))

def _shim_copies(rctx, spoke, template):
    """genrules copying the shim into each folder that needs one; their labels."""
    rules = []
    labels = []
    for i, folder in enumerate(_shim_folders(rctx, spoke + "/site-packages")):
        rules.append("""
genrule(
    name = "_cp_{i}_namespace",
    srcs = ["{template}"],
    outs = ["site-packages/{folder}/__init__.py"],
    cmd = "cp $< $@",
)
""".format(i = i, template = template, folder = folder))
        labels.append(":_cp_{}_namespace".format(i))
    return "".join(rules), labels

def _spoke_1x(rctx, spoke, meta, deps):
    shims, shim_labels = _shim_copies(rctx, spoke, "//:namespace_pkg_1x.py")
    rctx.file(spoke + "/BUILD.bazel", _SPOKE_HEADER + shims + """
py_library(
    name = "pkg",
    srcs = glob(["site-packages/**/*.py"], allow_empty = True) + {shims},
    data = glob(["site-packages/**/*"], exclude = ["**/*.py", "**/*.pyc", "**/*.pyc.*", "**/*.dist-info/RECORD"]),
    imports = ["site-packages"],
    tags = ["pypi_name={name}", "pypi_version={version}"],
    deps = {deps},
)
""".format(
        shims = _starlark_list(shim_labels),
        name = meta.name,
        version = meta.version,
        deps = _starlark_list(["//rp1x/pypi/{}:pkg".format(_repo_name(d)) for d in deps]),
    ))

def _spoke_2x(rctx, spoke, meta, deps):
    shims, shim_labels = _shim_copies(rctx, spoke, "//:namespace_pkg_2x.py")
    launchers = ""
    for script, target in meta.scripts:
        module, attribute = target.split(":")
        rctx.file("{}/_launchers/{}".format(spoke, script), _LAUNCHER.format(module = module, attribute = attribute))
        launchers += """
genrule(
    name = "_bin_{script}",
    srcs = ["_launchers/{script}"],
    outs = ["bin/{script}"],
    cmd = "cp $< $@",
    executable = True,
)
""".format(script = script)
    library = "srcs" if meta.requires_dist else "pkg"
    tags = """["pypi_name={}", "pypi_version={}"]""".format(meta.name, meta.version)
    content = _SPOKE_HEADER + shims + launchers + """
filegroup(
    name = "data",
    srcs = glob(["data/**", "bin/**", "include/**"], allow_empty = True) + {launchers},
)

py_library(
    name = "{library}",
    srcs = glob(["site-packages/**/*.py"], allow_empty = True) + {shims},
    data = {launchers} + glob(["site-packages/**/*"], exclude = ["**/*.py", "**/*.pyc", "**/*.pyc.*"]) + [":data"],
    imports = ["site-packages"],
    tags = {tags},
)
""".format(
        launchers = _starlark_list([":bin/" + s for s, _ in meta.scripts]),
        library = library,
        shims = _starlark_list(shim_labels),
        tags = tags,
    )
    if meta.requires_dist:
        content += """
py_library(
    name = "pkg",
    srcs = [":srcs"],
    tags = {tags},
    deps = [":srcs"] + {deps},
)
""".format(tags = tags, deps = _starlark_list(["//rp2x/pypi/{}:pkg".format(_repo_name(d)) for d in deps]))
    rctx.file(spoke + "/BUILD.bazel", content)

# A console-script launcher in the form rules_python 2.x writes at build time
# (it expects a `python3` beside it, in its venv's bin/).
_LAUNCHER = """#!/bin/sh
'''exec' "$(dirname "$0")/python3" "$0" "$@"
' '''
import sys
from {module} import {attribute}
if __name__ == "__main__":
    sys.exit({attribute}())
"""

def _hub(rctx, shape, name, layers):
    """The hub package of one distribution: `@pypi//name` and `@pypi//name:pkg`."""
    spoke = "//{}/spokes/{}:pkg".format(shape, name)
    if layers == 1:
        pkg = '"{}"'.format(spoke)
    else:
        pkg = 'select({{"//conditions:default": "{}"}})'.format(spoke)
    rctx.file("{}/pypi/{}/BUILD.bazel".format(shape, name), """package(default_visibility = ["//visibility:public"])

alias(
    name = "{name}",
    actual = "{first}",
)

alias(
    name = "pkg",
    actual = {pkg},
)
""".format(name = name, first = spoke if layers == 1 else ":pkg", pkg = pkg))

def _rules_python_shapes_impl(rctx):
    rctx.file("BUILD.bazel", """exports_files(["namespace_pkg_1x.py", "namespace_pkg_2x.py"])
""")
    rctx.file("namespace_pkg_1x.py", _SHIM_1X)
    rctx.file("namespace_pkg_2x.py", _SHIM_2X)
    for path, sha256, deps in WHEELS:
        basename = path.split("/")[-1]
        wheel = rctx.path("_wheels/{}.zip".format(basename))
        rctx.download(_PYPI + path, output = wheel, sha256 = sha256)
        name = _repo_name(basename.split("-")[0])
        for shape in ("rp022", "rp1x", "rp2x"):
            spoke = "{}/spokes/{}".format(shape, name)
            meta = _install(rctx, wheel, basename, spoke, shape)
            if shape == "rp022":
                _spoke_022(rctx, spoke, meta, deps)
                _hub(rctx, shape, name, 1)
            elif shape == "rp1x":
                _spoke_1x(rctx, spoke, meta, deps)
                _hub(rctx, shape, name, 2)
            else:
                _spoke_2x(rctx, spoke, meta, deps)
                _hub(rctx, shape, name, 2)
        if name == PATCHED:
            spoke = "patched/spokes/" + name
            meta = _install(rctx, wheel, basename, spoke, "rp1x")
            module = spoke + "/" + _PATCHED_FILE
            rctx.file(module, rctx.read(module) + PATCH_LINE)
            _spoke_1x(rctx, spoke, meta, deps)
            _hub(rctx, "patched", name, 2)
        rctx.delete(wheel)

rules_python_shapes = repository_rule(
    implementation = _rules_python_shapes_impl,
    doc = "rules_python 0.22, 1.5-1.9 and 2.x pip targets for a few pinned wheels (see the file's docstring).",
)

def _shapes_impl(_mctx):
    rules_python_shapes(name = "rules_python_shapes")

shapes = module_extension(
    implementation = _shapes_impl,
    doc = "Makes `@rules_python_shapes`, for tests (a dev_dependency).",
)
