"""Test helper: the runfiles a rules_python venv binary has (rules_python 1.x/2.x, `venvs_site_packages=yes`).

Facts from rules_python's sources: the binary's runfiles hold
`_<name>.venv/...` entries made with `ctx.actions.declare_symlink` and a
relative target (a package's top-level folder, the interpreter), and
`root_symlinks` whose target is a pip package's own file. This rule makes
the same shapes for the stand-in packages of this folder; a `py_binary`
takes it as `data`.
"""

def _venv_shape_impl(ctx):
    links = []
    for path, target in ctx.attr.links.items():
        link = ctx.actions.declare_symlink(path)
        ctx.actions.symlink(output = link, target_path = target)
        links.append(link)
    root_symlinks = {path: target.files.to_list()[0] for target, path in ctx.attr.root_symlinks.items()}
    return [DefaultInfo(runfiles = ctx.runfiles(files = links, root_symlinks = root_symlinks))]

venv_shape = rule(
    implementation = _venv_shape_impl,
    attrs = {
        "links": attr.string_dict(doc = "Declared symlinks: path (in this package) -> relative target."),
        "root_symlinks": attr.label_keyed_string_dict(allow_files = True, doc = "File -> its path at the runfiles root."),
    },
)
