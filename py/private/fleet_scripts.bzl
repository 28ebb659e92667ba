"""A fleet's executables: `.update` writes its lock, `_test` checks it, `.report` prints what it shares."""

load(":providers.bzl", "PyImageFleetInfo", "PyImageLayersInfo", "PyImagePlatformsInfo")
load(":py_image_platforms.bzl", "each_image")
load(":pyimage_action.bzl", "PYIMAGE_RUN_TOOL", "PYIMAGE_TOOL", "pyimage_action")
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

def _state(ctx, fleet):
    """`<fleet>.state.json`: what every image holds as built (`pyimage fleet-state`)."""
    state = ctx.actions.declare_file(fleet.label.rpartition(":")[2] + ".state.json")
    args = ctx.actions.args()
    args.add("fleet-state")
    args.add(fleet.label, format = "--fleet-label=%s")
    args.add("--inputs", fleet.inputs)
    files = []
    for info in [info for target in ctx.attr.images for info in each_image(target, PyImageLayersInfo)]:
        args.add(info.image_name, format = "--image=%s")
        args.add("--layout", info.layout.path)
        args.add("--plan", info.plan)
        args.add("--app-layer")
        args.add_all(info.app_layers)
        files += [info.layout, info.plan] + info.app_layers
    args.add("--out", state)
    pyimage_action(
        ctx,
        args,
        inputs = depset(files, transitive = [fleet.inputs_files]),
        outputs = [state],
        mnemonic = "PyImageFleetState",
        progress_message = "Recording what the images of fleet %{label} hold",
    )
    return state

def _report_impl(ctx):
    fleet = ctx.attr.fleet[PyImageFleetInfo]
    state = _state(ctx, fleet)
    script = run_script(
        ctx,
        "fleet-report",
        tool = ctx.executable._pyimage_run,
        report = fleet.report,
        report_json = fleet.report_json,
        state = state,
    )
    files = [fleet.report, fleet.report_json, state]
    runfiles = ctx.runfiles(files = files).merge(ctx.attr._pyimage_run[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = script, files = depset(files), runfiles = runfiles)]

py_image_fleet_report = rule(
    implementation = _report_impl,
    executable = True,
    attrs = {
        "fleet": attr.label(mandatory = True, providers = [PyImageFleetInfo]),
        "images": attr.label_list(
            providers = [[PyImageLayersInfo], [PyImagePlatformsInfo]],
            doc = "The images' `<name>.layers` targets (the macro adds `.layers`; an image index's holds each platform's), for the state.",
        ),
        "_pyimage": PYIMAGE_TOOL,
        "_pyimage_run": PYIMAGE_RUN_TOOL,
        "_run_template": RUN_TEMPLATE,
    },
    doc = "`bazel run` prints what the fleet's plan shares and the bytes it stores; with `-- --since STATE`, what rolling out this state costs where STATE runs.",
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
