"""`py_image_plan`: shows an image's layer plan report."""

load(":image_paths.bzl", "runfiles_path")
load(":providers.bzl", "PyImageLayersInfo")

def _py_image_plan_impl(ctx):
    plan = ctx.attr.layers[PyImageLayersInfo].plan
    tool = ctx.attr._pyimage[DefaultInfo].files_to_run.executable
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(
        script,
        """#!/usr/bin/env bash
# Prints the layer plan report of {label} as a table.
set -euo pipefail
r="${{RUNFILES_DIR:-$0.runfiles}}"
export RUNFILES_DIR="$r"
exec "$r/{tool}" show-plan "$r/{plan}"
""".format(label = ctx.attr.layers.label, tool = runfiles_path(ctx, tool), plan = runfiles_path(ctx, plan)),
        is_executable = True,
    )
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
        "_pyimage": attr.label(
            default = Label("//tools/pyimage"),
            executable = True,
            cfg = "target",
        ),
    },
)
