"""`venv_runfiles`: what a rules_python venv binary adds to its runfiles (1.5+, `venvs_site_packages=yes`).

Facts from rules_python's sources (1.9.2, 2.3.2), not its code: the venv
`_<binary>.venv/` beside the binary holds `pyvenv.cfg`, `bin/python3` (a
declared symlink to the interpreter), `bazel.pth` and `_bazel_site_init.py`
in `lib/python3.11/site-packages/`, and one entry per top-level name of each
pip package there: a declared symlink with a relative target into the
package's site-packages, made per child for a namespace folder; a folder
holding a shared library is linked file by file through the runfiles'
`root_symlinks`.

2.x (`wheel_folders = True`) also links what a wheel's `data/` and
`include/` hold in its library (venv_runfiles.bzl's DATA and INCLUDE
kinds): `_<binary>.venv/<top name under data/>` and
`_<binary>.venv/include/python3.11/<top name under include/>`, each a
declared symlink with a relative target into the package's own `data/` or
`include/`. And its pip libraries give their `imports` as written, bare
(`site-packages`), where 1.x gives none (`imports`).

A `py_binary` takes this rule in `deps` (its `PyInfo` carries the imports)
or `data`.
"""

load("@rules_python//python:py_info.bzl", "PyInfo")

_SITE = "lib/python3.11/site-packages"
_INCLUDE = "include/python3.11"

# A wheel's folders beside site-packages that 2.x links into the venv, and
# where in the venv: `data/share` -> `share`, `include/greenlet` ->
# `include/python3.11/greenlet`.
_WHEEL_FOLDERS = {"data": "", "include": _INCLUDE}

def _runfiles_path(ctx, f):
    return f.short_path[3:] if f.short_path.startswith("../") else ctx.workspace_name + "/" + f.short_path

def _relative(from_dir, to):
    a = from_dir.split("/")
    b = to.split("/")
    common = 0
    for x, y in zip(a, b):
        if x != y:
            break
        common += 1
    return "/".join([".."] * (len(a) - common) + b[common:])

def _venv_runfiles_impl(ctx):
    venv = "_{}.venv".format(ctx.attr.binary_name)
    venv_runfiles = "/".join([p for p in [ctx.workspace_name, ctx.label.package, venv] if p])
    links = {}  # venv path -> runfiles path of the target
    root_symlinks = {}
    for lib in ctx.attr.packages:
        home = "/".join([p for p in [lib.label.workspace_name or ctx.workspace_name, lib.label.package] if p]) + "/"
        site = home + "site-packages/"
        files = {}
        for f in lib[DefaultInfo].default_runfiles.files.to_list():
            path = _runfiles_path(ctx, f)
            if path.startswith(site):
                files[path[len(site):]] = f
            elif ctx.attr.wheel_folders and path.startswith(home):
                kind, _, rest = path[len(home):].partition("/")
                if kind in _WHEEL_FOLDERS and rest:
                    top = rest.split("/")[0]
                    venv_path = "/".join([p for p in [_WHEEL_FOLDERS[kind], top] if p])
                    links[venv_path] = home + kind + "/" + top
        tops = {}
        for rel in files:
            tops.setdefault(rel.split("/")[0], []).append(rel)
        for top, rels in tops.items():
            if rels == [top]:
                links[_SITE + "/" + top] = site + top
            elif [r for r in rels if r.endswith((".so", ".pyd"))]:
                for rel in rels:
                    root_symlinks["{}/{}/{}".format(venv_runfiles, _SITE, rel)] = files[rel]
            elif top + "/__init__.py" not in rels and [r for r in rels if r.endswith(".py")]:
                for child in {"/".join(r.split("/")[:2]): None for r in rels}:
                    links[_SITE + "/" + child] = site + child
            else:
                links[_SITE + "/" + top] = site + top
    outputs = []
    for path, target in sorted(links.items()):
        link = ctx.actions.declare_symlink(venv + "/" + path)
        ctx.actions.symlink(output = link, target_path = _relative((venv_runfiles + "/" + path).rsplit("/", 1)[0], target))
        outputs.append(link)
    python = ctx.actions.declare_symlink(venv + "/bin/python3")
    ctx.actions.symlink(output = python, target_path = ctx.attr.interpreter)
    outputs.append(python)
    for path, content in [
        ("pyvenv.cfg", ""),
        (_SITE + "/bazel.pth", "import _bazel_site_init\n"),
        (_SITE + "/_bazel_site_init.py", "# Set up by the venv: imports of the binary's runfiles.\n"),
    ]:
        f = ctx.actions.declare_file(venv + "/" + path)
        ctx.actions.write(f, content)
        outputs.append(f)
    return [
        DefaultInfo(runfiles = ctx.runfiles(files = outputs, root_symlinks = root_symlinks)),
        PyInfo(transitive_sources = depset(), imports = depset(ctx.attr.imports)),
    ]

venv_runfiles = rule(
    implementation = _venv_runfiles_impl,
    attrs = {
        "binary_name": attr.string(mandatory = True, doc = "The py_binary whose venv this is."),
        "imports": attr.string_list(doc = "The pip libraries' imports as the binary's PyInfo gets them: none (1.x), `site-packages` (2.x)."),
        "interpreter": attr.string(default = "/usr/bin/python3.11", doc = "Target of the venv's bin/python3."),
        "packages": attr.label_list(doc = "The pip packages' real libraries (`:pkg`, or 2.x `:srcs`)."),
        "wheel_folders": attr.bool(doc = "Link the wheels' `data/` and `include/` folders too (2.x)."),
    },
)
