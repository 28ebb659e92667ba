"""Analysis tests: which Python the layers' bytecode is for, and what compiles it.

The flags of py/private/bytecode.bzl, as an image's actions pass them on:
the app layer's action (`PyImageLayer`) compiles the app's modules, the image
action (`PyImageLayout`) checks every package layer and the base against the
version. The package layers' actions are the aspect's, with the same
arguments (e2e tests run them).
"""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

_PRECOMPILE = "@@//py:precompile"
_PYTHON_VERSION = "@@//py:python_version"
_INTERPRETER = "@@//py:bytecode_interpreter"

def _value_after(argv, flag):
    """The argument after `flag` in argv, or None."""
    for i in range(len(argv) - 1):
        if argv[i] == flag:
            return argv[i + 1]
    return None

def _bytecode_args_test_impl(ctx):
    env = analysistest.begin(ctx)
    actions = analysistest.target_actions(env)
    (app,) = [
        a
        for a in actions
        if a.mnemonic == "PyImageLayer" and [f for f in a.outputs.to_list() if f.basename.endswith(".app.tar.gz")]
    ]
    (layout,) = [a for a in actions if a.mnemonic == "PyImageLayout"]
    want = ctx.attr.python_version or None
    asserts.equals(env, want, _value_after(app.argv, "--python-version"), "the app layer's --python-version")
    asserts.equals(env, want, _value_after(layout.argv, "--python-version"), "the image action's --python-version")
    asserts.equals(env, ctx.attr.interpreter or None, _value_after(app.argv, "--python"), "the app layer's --python")
    if ctx.attr.interpreter:
        paths = [f.path for f in app.inputs.to_list()]
        asserts.true(env, ctx.attr.interpreter in paths, "the interpreter is an input of the app layer's action")
    return analysistest.end(env)

def _make(config_settings):
    return analysistest.make(
        _bytecode_args_test_impl,
        attrs = {
            "interpreter": attr.string(doc = "The --python expected (empty: none)."),
            "python_version": attr.string(doc = "The --python-version expected (empty: none)."),
        },
        config_settings = config_settings,
    )

# Nothing set: no version known for a base image's python3, no bytecode.
bytecode_default_test = _make({})

# The version stated: bytecode, compiled by pyimage's own interpreter.
bytecode_version_test = _make({_PYTHON_VERSION: "3.11"})

# And an exec-platform py_runtime that compiles it.
bytecode_interpreter_test = _make({
    _PYTHON_VERSION: "3.11",
    _INTERPRETER: "@@//py/tests/stand_ins:python311_runtime",
})

# precompile=off wins over a stated version.
bytecode_off_test = _make({_PYTHON_VERSION: "3.11", _PRECOMPILE: "off"})

def _precompile_on_fails_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, "precompile=on: no Python version is known for the image")
    return analysistest.end(env)

# precompile=on with no version known: one line naming the flags.
precompile_on_without_version_test = analysistest.make(
    _precompile_on_fails_impl,
    expect_failure = True,
    config_settings = {_PRECOMPILE: "on"},
)
