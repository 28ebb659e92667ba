"""A fleet's executables: `.update` writes its lock, `_test` checks it, `.report` prints what it shares."""

load(":providers.bzl", "PyImageFleetInfo")
load(":pyimage_action.bzl", "PYIMAGE_RUN_TOOL")
load(":run_script.bzl", "RUN_TEMPLATE", "run_script")

visibility(["//py/..."])

def _script(ctx, mode):
    """An executable script (`mode` of run_pyimage.sh.tpl) with pyimage and the fleet's files in its runfiles."""
    fleet = ctx.attr.fleet[PyImageFleetInfo]
    script = run_script(
        ctx,
        mode,
        tool = ctx.executable._pyimage,
        plan = fleet.plan,
        lock = fleet.lock,
        lock_path = fleet.lock_path,
        update_target = fleet.update_target,
        undeclared = fleet.undeclared,
        fleet_label = fleet.label,
    )
    files = [fleet.plan] + ([fleet.lock] if fleet.lock else [])
    runfiles = ctx.runfiles(files = files).merge(ctx.attr._pyimage[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

def _update_impl(ctx):
    return _script(ctx, "fleet-update")

def _test_impl(ctx):
    return _script(ctx, "fleet-check")

_SCRIPT_ATTRS = {
    "fleet": attr.label(mandatory = True, providers = [PyImageFleetInfo]),
    "_pyimage": PYIMAGE_RUN_TOOL,
    "_run_template": RUN_TEMPLATE,
}

def _report_impl(ctx):
    fleet = ctx.attr.fleet[PyImageFleetInfo]
    script = run_script(ctx, "fleet-report", report = fleet.report, report_json = fleet.report_json)
    return [
        DefaultInfo(
            executable = script,
            files = depset([fleet.report, fleet.report_json]),
            runfiles = ctx.runfiles(files = [fleet.report, fleet.report_json]),
        ),
    ]

py_image_fleet_report = rule(
    implementation = _report_impl,
    executable = True,
    attrs = {
        "fleet": attr.label(mandatory = True, providers = [PyImageFleetInfo]),
        "_run_template": RUN_TEMPLATE,
    },
    doc = "`bazel run` prints what the fleet's plan shares and the bytes it stores.",
)

py_image_fleet_update = rule(
    implementation = _update_impl,
    executable = True,
    attrs = _SCRIPT_ATTRS,
    doc = "`bazel run` writes the fleet's plan into its lock file, in the source tree.",
)

py_image_fleet_test = rule(
    implementation = _test_impl,
    test = True,
    attrs = _SCRIPT_ATTRS,
    doc = "Fails when the fleet's lock file is stale, missing or unreadable, or MODULE.bazel does not declare the fleet, printing what to do.",
)
