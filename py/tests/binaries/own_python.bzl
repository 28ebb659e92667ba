"""`py_binary` as rules_python 1.x and 2.x give one: a binary that carries its own Python.

Facts from rules_python's sources (1.5.1, 2.3.2), not its code: their
`py_binary` is a Starlark rule of that name whose target returns the
`PyRuntimeInfo` of the runtime it was built for, which `python_version =
"3.12"` picks through a transition (a hermetic toolchain's `interpreter`
file, or a local one's `interpreter_path`). rules_python 0.22.1, the one CI
has, builds every binary for the one toolchain: this stand-in gives each
binary the interpreter path it is told, so that CI reproduces an image of
two binaries on two Pythons. It runs nothing.
"""

load("@rules_python//python:py_info.bzl", "PyInfo")
load("@rules_python//python:py_runtime_info.bzl", "PyRuntimeInfo")

def _py_binary_impl(ctx):
    launcher = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.write(launcher, "#!/bin/sh\nexit 1\n", is_executable = True)
    return [
        DefaultInfo(executable = launcher, runfiles = ctx.runfiles(files = ctx.files.srcs)),
        PyInfo(transitive_sources = depset(ctx.files.srcs)),
        PyRuntimeInfo(interpreter_path = ctx.attr.interpreter_path, python_version = "PY3"),
    ]

py_binary = rule(
    implementation = _py_binary_impl,
    doc = "A stand-in of rules_python 1.x and 2.x's `py_binary` on a Python of its own (see the file's docstring).",
    executable = True,
    attrs = {
        "deps": attr.label_list(providers = [PyInfo], doc = "As py_binary's."),
        "interpreter_path": attr.string(mandatory = True, doc = "The Python it runs on, as its runtime names it."),
        "main": attr.label(allow_single_file = [".py"], doc = "As py_binary's."),
        "srcs": attr.label_list(allow_files = [".py"], doc = "As py_binary's."),
    },
)
