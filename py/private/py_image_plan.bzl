"""`py_image_plan`: shows an image's layer plan report."""

load(":providers.bzl", "PyImageLayersInfo")
load(":pyimage_action.bzl", "PYIMAGE_RUN_TOOL")
load(":run_script.bzl", "RUN_TEMPLATE", "run_script")

visibility(["//py/..."])

def _py_image_plan_impl(ctx):
    plan = ctx.attr.layers[PyImageLayersInfo].plan
    script = run_script(ctx, "show-plan", tool = ctx.executable._pyimage, plan = plan)
    runfiles = ctx.runfiles(files = [plan]).merge(ctx.attr._pyimage[DefaultInfo].default_runfiles)
    return [DefaultInfo(
        executable = script,
        files = depset([plan]),
        runfiles = runfiles,
    )]

py_image_plan = rule(
    implementation = _py_image_plan_impl,
    executable = True,
    doc = """The layer plan report of a `py_image_layers` target.

Its output is the report as JSON (layers bottom to top, members, sizes, the
planner's reason for each); `bazel run` prints it as a table.""",
    attrs = {
        "layers": attr.label(
            mandatory = True,
            providers = [PyImageLayersInfo],
            doc = "The `py_image_layers` target whose plan to show.",
        ),
        "_pyimage": PYIMAGE_RUN_TOOL,
        "_run_template": RUN_TEMPLATE,
    },
)
