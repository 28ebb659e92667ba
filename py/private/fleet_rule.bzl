"""`py_image_fleet_rule`: a fleet's plan (its lock's next content) and its report."""

load(":declared_layers.bzl", "DECLARED_LAYERS_ATTRS", "declared_layers")
load(":image_common.bzl", "shown_label")
load(":providers.bzl", "PyImageFleetInfo", "PyImageFleetSliceInfo", "PyImageInputsInfo", "PyImagePlatformsInfo")
load(":py_image_platforms.bzl", "each_image")
load(":pyimage_action.bzl", "PYIMAGE_TOOL", "pyimage_action")

visibility(["//py/..."])

def _check_platforms(ctx, target):
    """Fails when the fleet declares `platforms` and image `target` is not built for exactly those."""
    if not ctx.attr.platforms:
        return
    image = shown_label(target.label).removesuffix(".inputs")
    have = [info.platform for info in each_image(target, PyImageInputsInfo)]
    missing = [p for p in ctx.attr.platforms if p not in have]
    extra = [p for p in have if p not in ctx.attr.platforms]
    if missing or extra:
        fail("fleet {}: image {} is built for {}, the fleet for {}; give the image platforms = [{}], or {} the fleet's platforms".format(
            shown_label(ctx.label),
            image,
            ", ".join(have),
            ", ".join(ctx.attr.platforms),
            ", ".join(['"{}"'.format(p) for p in ctx.attr.platforms]),
            "add {} to".format(", ".join(extra)) if extra else "drop {} from".format(", ".join(missing)),
        ))

def _fleet_inputs(ctx):
    """FLEET_INPUTS.json (see tools/pyimage/formats/inputs.py), with what it names.

    Returns:
        (the file, a depset of it with the bases and the packages' descriptors:
        what planning and reporting read).
    """
    images = {}
    files = []
    for target in ctx.attr.images:
        _check_platforms(ctx, target)
    for info in [info for target in ctx.attr.images for info in each_image(target, PyImageInputsInfo)]:
        if info.name in images:
            fail("image {} is twice in fleet {}; list each image once".format(info.name, ctx.label))
        if info.declared:
            fail("fleet {}: image {} declares layers of its own (layer_groups, alone_packages, group_compression); declare them on the fleet, whose images follow its declaration".format(shown_label(ctx.label), info.name))
        packages = sorted(info.packages.to_list(), key = lambda p: p.id)
        images[info.name] = {
            "base": info.base_dir,
            "max_layers": info.max_layers,
            "packages": [
                {"blob": p.blob.path, "descriptor": p.descriptor.path, "label": str(p.label)}
                for p in packages
            ],
            "platform": info.platform,
            "reserved_layers": info.reserved_layers,
        }
        if info.libraries:
            images[info.name]["libraries"] = info.libraries
        files.append(info.base_files)
        files.append(depset([p.descriptor for p in packages]))
    doc = {"fleet": shown_label(ctx.label), "images": images}
    declared = declared_layers(ctx.attr, "fleet " + shown_label(ctx.label))
    if declared:
        doc["declared"] = declared
    out = ctx.actions.declare_file(ctx.label.name + ".inputs.json")
    ctx.actions.write(out, json.encode_indent(doc, indent = " "))
    return out, depset([out], transitive = files)

def _py_image_fleet_impl(ctx):
    # Planning and reporting read descriptors only; the shared layers are
    # merged by the fleets' repository (py/private/fleet_group.bzl), once each.
    inputs_json, inputs = _fleet_inputs(ctx)
    lock = ctx.file.lock
    lock_inputs = [lock] if lock else []
    plan = ctx.actions.declare_file(ctx.label.name + ".plan.json")
    args = ctx.actions.args()
    args.add("fleet-plan")
    args.add("--inputs", inputs_json)
    if lock:
        args.add("--previous", lock)
    args.add("--out", plan)
    pyimage_action(
        ctx,
        args,
        inputs = depset(lock_inputs, transitive = [inputs]),
        outputs = [plan],
        mnemonic = "PyImageFleetPlan",
        progress_message = "Planning the layers of fleet %{label}",
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
    groups = ctx.attr.shared[PyImageFleetSliceInfo].groups if ctx.attr.shared else []
    for group in groups:
        args.add_all("--group", [group.id, group.descriptor])
    args.add(ctx.attr.update_target, format = "--update-target=%s")
    args.add("--out", report)
    args.add("--json", report_json)
    pyimage_action(
        ctx,
        args,
        inputs = depset([plan] + lock_inputs + [g.descriptor for g in groups], transitive = [inputs]),
        outputs = [report, report_json],
        mnemonic = "PyImageFleetReport",
        progress_message = "Reporting on the layers of fleet %{label}",
    )
    return [
        DefaultInfo(files = depset([plan])),
        OutputGroupInfo(report = depset([report, report_json])),
        PyImageFleetInfo(
            label = shown_label(ctx.label),
            lock = lock,
            lock_path = ctx.attr.lock_path,
            undeclared = ctx.attr.undeclared,
            update_target = ctx.attr.update_target,
            plan = plan,
            report = report,
            report_json = report_json,
            inputs = inputs_json,
            inputs_files = inputs,
        ),
    ]

py_image_fleet_rule = rule(
    implementation = _py_image_fleet_impl,
    doc = """Plans the layers of several images together; see the `py_image_fleet` macro.""",
    attrs = {
        "images": attr.label_list(
            mandatory = True,
            providers = [[PyImageInputsInfo], [PyImagePlatformsInfo]],
            doc = "The images' `<name>.inputs` targets (the macro adds `.inputs`); an image index's plans each platform's image.",
        ),
        "lock": attr.label(allow_single_file = [".json"], doc = "The lock file, if there is one yet."),
        "platforms": attr.string_list(doc = "The platforms every image must be built for, exactly (OCI names); empty: any."),
        "lock_path": attr.string(mandatory = True, doc = "The lock's path in the source tree."),
        "shared": attr.label(
            providers = [PyImageFleetSliceInfo],
            doc = "The lock's shared layers, as the fleets' repository merges them (for the report's digests).",
        ),
        "undeclared": attr.string(doc = "The MODULE.bazel lines that declare this fleet, when they are missing."),
        "update_target": attr.string(
            default = "<fleet>.update",
            doc = "The label of the fleet's `.update` target, for messages.",
        ),
        "_pyimage": PYIMAGE_TOOL,
    } | DECLARED_LAYERS_ATTRS,
)
