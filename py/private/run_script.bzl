"""The executables of `bazel run` (and the fleet's test): one template, expanded per use."""

load(":image_paths.bzl", "runfiles_path")

visibility(["//py/..."])

# The attribute `_run_template` of rules that call run_script.
RUN_TEMPLATE = attr.label(
    default = Label(":run_pyimage.sh.tpl"),
    allow_single_file = True,
)

_MODES = ["show-plan", "fleet-check", "fleet-update", "fleet-report"]

def shell_quote(s):
    """`s` as one single-quoted shell word (a `'` inside becomes `'\\''`).

    Args:
        s: a string.

    Returns:
        The quoted word.
    """
    return "'" + s.replace("'", "'\\''") + "'"

def run_script(
        ctx,
        mode,
        tool = None,
        plan = None,
        lock = None,
        lock_path = "",
        update_target = "",
        report = None,
        report_json = None,
        state = None,
        undeclared = "",
        fleet_label = ""):
    """Declares `<name>.sh`, run_pyimage.sh.tpl expanded for `mode`.

    Args:
        ctx: the rule context; its rule has `_run_template = RUN_TEMPLATE`.
        mode: what the script does: `show-plan`, `fleet-check`,
            `fleet-update` or `fleet-report` (see the template).
        tool: the pyimage executable (File), in the script's runfiles.
        plan: the plan JSON (File), in the script's runfiles.
        lock: the fleet's lock (File or None), in the script's runfiles.
        lock_path: the lock's path in the source tree.
        update_target: the label of the fleet's `.update` target.
        report: the fleet's text report (File), in the script's runfiles.
        report_json: the fleet's JSON report (File), for its path under bazel-bin.
        state: the fleet's state (File), in the script's runfiles.
        undeclared: the MODULE.bazel lines that declare the fleet, when they are missing.
        fleet_label: the fleet's label, for messages.

    Returns:
        The script (File), executable.
    """
    if mode not in _MODES:
        fail("run_script: unknown mode {}".format(mode))

    def rf(f):
        return shell_quote(runfiles_path(ctx, f) if f else "")

    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.expand_template(
        template = ctx.file._run_template,
        output = script,
        substitutions = {
            "{{FLEET_LABEL}}": shell_quote(fleet_label),
            "{{LOCK_PATH}}": shell_quote(lock_path),
            "{{LOCK}}": rf(lock),
            "{{MODE}}": shell_quote(mode),
            "{{PLAN}}": rf(plan),
            "{{REPORT_JSON}}": shell_quote(report_json.short_path if report_json else ""),
            "{{REPORT}}": rf(report),
            "{{STATE}}": rf(state),
            "{{STATE_PATH}}": shell_quote(state.short_path if state else ""),
            "{{TARGET}}": str(ctx.label).replace("\n", " "),
            "{{TOOL}}": rf(tool),
            "{{UNDECLARED}}": shell_quote(undeclared),
            "{{UPDATE_TARGET}}": shell_quote(update_target),
        },
        is_executable = True,
    )
    return script
