"""`py_image_fleet`: one layer plan for all images of a repository, kept in a lock file."""

load(":providers.bzl", "PyImageFleetInfo", "PyImageInputsInfo")
load(":run_script.bzl", "RUN_TEMPLATE", "run_script")

def _fleet_inputs(ctx):
    """FLEET_INPUTS.json (see tools/pyimage/inputs.py), with what it names.

    Returns:
        (the file, a depset of it with the bases and the packages' descriptors:
        what planning and reporting read, a depset of the packages' blobs:
        what merging reads besides).
    """
    images = {}
    files = []
    blobs = []
    for target in ctx.attr.images:
        info = target[PyImageInputsInfo]
        if info.name in images:
            fail("image {} is twice in fleet {}; list each image once".format(info.name, ctx.label))
        packages = sorted(info.packages.to_list(), key = lambda p: p.id)
        images[info.name] = {
            "base": info.base_dir,
            "max_layers": info.max_layers,
            # No .tar: merges inflate the blobs (see py_image_layers).
            "packages": [
                {"blob": p.blob.path, "descriptor": p.descriptor.path}
                for p in packages
            ],
            "platform": info.platform,
            "reserved_layers": info.reserved_layers,
        }
        files.append(info.base_files)
        files.append(depset([p.descriptor for p in packages]))
        blobs.append(depset([p.blob for p in packages]))
    out = ctx.actions.declare_file(ctx.label.name + ".inputs.json")
    ctx.actions.write(out, json.encode_indent({"images": images}, indent = " "))
    return out, depset([out], transitive = files), depset(transitive = blobs)

def _py_image_fleet_impl(ctx):
    # Planning and reporting read descriptors only; merges read blobs too.
    inputs_json, inputs, blobs = _fleet_inputs(ctx)
    lock = ctx.file.lock
    lock_inputs = [lock] if lock else []

    plan = ctx.actions.declare_file(ctx.label.name + ".plan.json")
    args = ctx.actions.args()
    args.add("fleet-plan")
    args.add("--inputs", inputs_json)
    if lock:
        args.add("--previous", lock)
    args.add("--out", plan)
    ctx.actions.run(
        executable = ctx.executable._pyimage,
        arguments = [args],
        inputs = depset(lock_inputs, transitive = [inputs]),
        outputs = [plan],
        mnemonic = "PyImageFleetPlan",
        progress_message = "Planning the layers of fleet %{label}",
    )

    # Every merged group of the lock, once for the whole fleet.
    merged = ctx.actions.declare_directory(ctx.label.name + ".merged")
    args = ctx.actions.args()
    args.add("fleet-merge")
    args.add("--inputs", inputs_json)
    if lock:
        args.add("--lock", lock)
    args.add("--out", merged.path)
    ctx.actions.run(
        executable = ctx.executable._pyimage,
        arguments = [args],
        inputs = depset(lock_inputs, transitive = [inputs, blobs]),
        outputs = [merged],
        mnemonic = "PyImageFleetMerge",
        progress_message = "Merging the shared layers of fleet %{label}",
    )

    # What the plan shares and saves, in text and JSON (`<name>.report`).
    report = ctx.actions.declare_file(ctx.label.name + ".report.txt")
    report_json = ctx.actions.declare_file(ctx.label.name + ".report.json")
    args = ctx.actions.args()
    args.add("fleet-report")
    args.add("--inputs", inputs_json)
    args.add("--plan", plan)
    if lock:
        args.add("--lock", lock)
    args.add("--merged", merged.path)
    args.add("--update-target", ctx.attr.update_target)
    args.add("--out", report)
    args.add("--json", report_json)
    ctx.actions.run(
        executable = ctx.executable._pyimage,
        arguments = [args],
        inputs = depset([plan, merged] + lock_inputs, transitive = [inputs]),
        outputs = [report, report_json],
        mnemonic = "PyImageFleetReport",
        progress_message = "Reporting on the layers of fleet %{label}",
    )
    return [
        DefaultInfo(files = depset([plan])),
        OutputGroupInfo(report = depset([report, report_json])),
        PyImageFleetInfo(
            lock = lock,
            merged = merged,
            plan = plan,
            report = report,
            report_json = report_json,
        ),
    ]

py_image_fleet_rule = rule(
    implementation = _py_image_fleet_impl,
    doc = """Plans the layers of several images together; see the `py_image_fleet` macro.""",
    attrs = {
        "images": attr.label_list(
            mandatory = True,
            providers = [PyImageInputsInfo],
            doc = "The images' `<name>.inputs` targets (the macro adds `.inputs`).",
        ),
        "lock": attr.label(allow_single_file = [".json"], doc = "The lock file, if there is one yet."),
        "update_target": attr.string(
            default = "<fleet>.update",
            doc = "The label of the fleet's `.update` target, for messages.",
        ),
        "_pyimage": attr.label(
            default = Label("//tools/pyimage"),
            executable = True,
            cfg = "exec",
        ),
    },
)

def _script(ctx, mode, **kwargs):
    """An executable script (`mode` of run_pyimage.sh.tpl) with pyimage and the fleet's files in its runfiles."""
    fleet = ctx.attr.fleet[PyImageFleetInfo]
    script = run_script(
        ctx,
        mode,
        tool = ctx.executable._pyimage,
        plan = fleet.plan,
        lock = fleet.lock,
        lock_path = ctx.attr.lock_path,
        **kwargs
    )
    files = [fleet.plan] + ([fleet.lock] if fleet.lock else [])
    runfiles = ctx.runfiles(files = files).merge(ctx.attr._pyimage[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

def _update_impl(ctx):
    return _script(ctx, "fleet-update")

def _test_impl(ctx):
    return _script(ctx, "fleet-check", update_target = ctx.attr.update_target)

_SCRIPT_ATTRS = {
    "fleet": attr.label(mandatory = True, providers = [PyImageFleetInfo]),
    "lock_path": attr.string(mandatory = True, doc = "The lock's path in the source tree."),
    "_pyimage": attr.label(
        default = Label("//tools/pyimage"),
        executable = True,
        cfg = "target",
    ),
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
    doc = "`bazel run` writes the fleet's plan into its lock file in the source tree.",
)

py_image_fleet_test = rule(
    implementation = _test_impl,
    test = True,
    attrs = dict(_SCRIPT_ATTRS, update_target = attr.string(mandatory = True)),
    doc = "Fails when the fleet's lock file is stale, printing the command that updates it.",
)

def py_image_fleet(name, images, lock = None, **kwargs):
    """One layer plan for several `py_image`s, kept in a lock file.

    Makes:
    - `<name>`: plans the images together (`<name>.plan.json`) and merges each
      multi-package layer of the lock once for all images that use it. Give
      it to each `py_image` as `fleet`.
    - `<name>.update`: `bazel run` writes the plan into the lock file
      (sorted JSON), keeping every layer whose packages did not change.
    - `<name>_test`: fails when the lock is stale or missing, and prints the
      command that updates it.
    - `<name>.report`: `bazel run` prints, per image, its layers and how many
      images share each; per layer, its digest, size and the images that hold
      it; and the compressed bytes the fleet stores beside one site-packages
      layer per app. `bazel build` writes it as `<name>.report.txt` and
      `<name>.report.json`.

    Images follow the lock where it is current; packages it does not know yet
    (a new dependency before the lock is updated) still get layers, within
    the cap. Without a lock file, images are planned alone.

    Args:
        name: name of the fleet target.
        images: the `py_image` targets of the fleet (their `<image>.inputs`
            targets are what is planned).
        lock: the lock file's name in this package; default `<name>.lock.json`.
            It may be missing until the first `bazel run :<name>.update`.
        **kwargs: attributes of every target it makes (tags, visibility,
            ...). Each is a command users run (build, `.update`, `.report`,
            `_test`), so none is internal or tagged `manual`.
    """
    lock_name = lock or name + ".lock.json"
    found = native.glob([lock_name], allow_empty = True)
    lock_path = native.package_name() + "/" + lock_name if native.package_name() else lock_name

    # Images all over the repository use the fleet: visible to all unless said.
    fleet_kwargs = dict(kwargs)
    if "visibility" not in fleet_kwargs:
        fleet_kwargs["visibility"] = ["//visibility:public"]
    update_target = "//{}:{}.update".format(native.package_name(), name)
    py_image_fleet_rule(
        name = name,
        images = [image + ".inputs" for image in images],
        lock = found[0] if found else None,
        update_target = update_target,
        **fleet_kwargs
    )
    py_image_fleet_report(
        name = name + ".report",
        fleet = ":" + name,
        **kwargs
    )
    py_image_fleet_update(
        name = name + ".update",
        fleet = ":" + name,
        lock_path = lock_path,
        **kwargs
    )
    py_image_fleet_test(
        name = name + "_test",
        fleet = ":" + name,
        lock_path = lock_path,
        update_target = update_target,
        **kwargs
    )
