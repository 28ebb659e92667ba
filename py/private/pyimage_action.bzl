"""How every action of rules_pyimage runs its tool: one place for it."""

visibility(["//py/..."])

# Bazel may run these actions in a persistent pyimage process per mnemonic
# (pyimage's JSON worker protocol, tools/pyimage/worker.py) rather than one
# new Python process each: the planner's and the package layers' actions are
# many and short, and an interpreter's start with the imports costs about as
# much as the smallest package's tar. Remote execution and the sandboxed or
# local strategies run the same command line (`pyimage @params`), with the
# same bytes out; `--strategy=PyImagePackageLayer=sandboxed` (any mnemonic)
# turns the worker off.
# The `_pyimage` attribute of every rule and aspect whose actions run pyimage.
PYIMAGE_TOOL = attr.label(
    default = Label("//tools/pyimage"),
    executable = True,
    cfg = "exec",
)

# The `_pyimage` attribute of rules whose executable (`bazel run`, a test)
# runs pyimage on the machine it runs on.
PYIMAGE_RUN_TOOL = attr.label(
    default = Label("//tools/pyimage"),
    executable = True,
    cfg = "target",
)

WORKER_EXECUTION_REQUIREMENTS = {
    "requires-worker-protocol": "json",
    "supports-workers": "1",
}

def pyimage_action(ctx, args, inputs, outputs, mnemonic, progress_message):
    """Runs `pyimage` with `args`, all of them in a params file.

    Args:
        ctx: the rule or aspect context (its `_pyimage` attribute is the tool).
        args: an `Args` holding the whole command line, the subcommand first.
        inputs: list or depset of input files.
        outputs: list of output files.
        mnemonic: the action's mnemonic (one worker pool each).
        progress_message: its progress message.
    """

    # A worker takes its request's arguments from the last argument, which
    # must be the params file (`@path`); the multiline format holds each
    # argument as is, the form Bazel hands a worker and pyimage reads. Bazel
    # reads a line starting with one `@` as another params file: a value a
    # user chose (image name, label, path) goes in as `--flag=VALUE`.
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    ctx.actions.run(
        executable = ctx.executable._pyimage,
        arguments = [args],
        inputs = inputs,
        outputs = outputs,
        mnemonic = mnemonic,
        progress_message = progress_message,
        execution_requirements = WORKER_EXECUTION_REQUIREMENTS,
    )
