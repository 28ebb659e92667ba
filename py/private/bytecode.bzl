"""Which Python the layers' bytecode is for: two flags and the Python toolchain.

`--@rules_pyimage//py:precompile=auto|on|off` (default `auto`) and
`--@rules_pyimage//py:python_version=3.N` (default unset). Every package layer
and app layer of the build carries the `__pycache__/*.pyc` of its modules for
that Python (see docs/guide.md), or none. The version comes from
configuration, never from the build machine: the `python_version` flag (say
it for a base image's `python3`), else the Python toolchain's
`interpreter_version_info` when the toolchain brings its own interpreter
(rules_python's hermetic toolchains: the interpreter layer's Python).

`--@rules_pyimage//py:bytecode_interpreter` names the interpreter that
compiles it, for the exec platform: a `py_runtime` of that Python (default:
the one the pyimage tool runs on). Bytecode is the same on every CPU, so an
image for another platform is compiled the same way. The package action
checks the interpreter's version and fails in one line when it is not the
image's: never an image with bytecode of the wrong Python.
"""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load("@rules_python//python:py_runtime_info.bzl", "PyRuntimeInfo")

visibility(["//py/..."])

PRECOMPILE_FLAG = "@rules_pyimage//py:precompile"
PYTHON_VERSION_FLAG = "@rules_pyimage//py:python_version"

# Every Python 3 minor version a layer's bytecode can be for.
PYTHON_VERSIONS = ["3.{}".format(n) for n in range(8, 16)]

INTERPRETER_FLAG = "@rules_pyimage//py:bytecode_interpreter"

# The attributes of every rule and aspect that writes layers.
BYTECODE_ATTRS = {
    "_bytecode_interpreter": attr.label(default = Label("//py:bytecode_interpreter"), cfg = "exec"),
    "_precompile": attr.label(default = Label("//py:precompile")),
    "_python_version": attr.label(default = Label("//py:python_version")),
}

def _toolchain_version(runtime):
    """`3.N` from a runtime with interpreter files that states its version, else ""."""
    if runtime == None or runtime.interpreter == None:
        return ""
    info = getattr(runtime, "interpreter_version_info", None)
    if info == None or not hasattr(info, "minor"):
        return ""
    return "{}.{}".format(info.major, info.minor)

def bytecode_version(ctx, runtime):
    """The Python version (`3.N`) the layers' bytecode is for, or "" for none.

    Args:
        ctx: a rule or aspect context with BYTECODE_ATTRS.
        runtime: the Python toolchain's PyRuntimeInfo (or None).

    Returns:
        struct(version, note, interpreter, inputs): `version` "" means no
        bytecode; `note` says why when `precompile` is `auto` and no version
        is known ("" otherwise); `interpreter` is the path of the interpreter
        that compiles it ("" for pyimage's own), `inputs` its files (a depset).
    """
    precompile = ctx.attr._precompile[BuildSettingInfo].value
    if precompile == "off":
        return struct(version = "", note = "", interpreter = "", inputs = depset())
    version = ctx.attr._python_version[BuildSettingInfo].value or _toolchain_version(runtime)
    if version:
        compiler = ctx.attr._bytecode_interpreter
        if PyRuntimeInfo not in compiler:
            return struct(version = version, note = "", interpreter = "", inputs = depset())
        exec_runtime = compiler[PyRuntimeInfo]
        if exec_runtime.interpreter == None:
            return struct(version = version, note = "", interpreter = exec_runtime.interpreter_path, inputs = depset())
        return struct(
            version = version,
            note = "",
            interpreter = exec_runtime.interpreter.path,
            inputs = depset([exec_runtime.interpreter], transitive = [exec_runtime.files]),
        )
    why = "no Python version is known for the image: set --{}=3.N (the base image's python3), or use a Python toolchain that states its version".format(PYTHON_VERSION_FLAG)
    if precompile == "on":
        fail("--{}=on: {}".format(PRECOMPILE_FLAG, why))
    return struct(version = "", note = "rules_pyimage: layers without bytecode, since " + why, interpreter = "", inputs = depset())
