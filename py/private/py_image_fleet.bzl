"""`py_image_fleet`: one layer plan for all images of a repository, kept in a lock file."""

load(":providers.bzl", "PyImageFleetInfo", "PyImageInputsInfo")
load(":pyimage_action.bzl", "pyimage_action")
load(":run_script.bzl", "RUN_TEMPLATE", "run_script")

def _fleet_inputs(ctx):
    """FLEET_INPUTS.json (see tools/pyimage/inputs.py), with what it names.

    Returns:
        (the file, a depset of it with the bases and the packages' descriptors:
        what planning and reporting read, a dict: image name -> its packages).
    """
    images = {}
    files = []
    packages_of = {}
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
        packages_of[info.name] = packages
    out = ctx.actions.declare_file(ctx.label.name + ".inputs.json")
    ctx.actions.write(out, json.encode_indent({"images": images}, indent = " "))
    return out, depset([out], transitive = files), packages_of

def _shared_layers(ctx, packages_of):
    """One merge action per shared layer of the lock (its `.bzl` form, given at loading time).

    Each group is merged from the packages of the images that hold it (the
    action picks the build of each member whose digest the lock records), so
    that building one image runs only its own packages' actions and its own
    groups' merges, whatever the size of the fleet.

    Returns:
        (dict: image name -> list of struct(id, members, blob, descriptor), its groups;
        list of every group's struct).
    """
    holders = {}
    for image, gids in ctx.attr.image_groups.items():
        if image not in packages_of:
            continue  # an image no longer in the fleet (the lock is stale)
        for gid in gids:
            holders.setdefault(gid, []).append(image)
    by_id = {image: {p.id: p for p in packages} for image, packages in packages_of.items()}
    by_image = {}
    groups = []
    for gid, members in ctx.attr.shared_groups.items():
        # The images that hold every member (one that lost a member since the
        # lock was written plans it itself), and their builds of the members.
        complete = [im for im in holders.get(gid, []) if all([pid in by_id[im] for pid in members])]
        candidates = {by_id[im][pid].descriptor: by_id[im][pid] for im in complete for pid in members}
        if len(members) < 2 or not complete:
            continue
        group = struct(
            id = gid,
            members = members,
            blob = ctx.actions.declare_file("{}.shared/{}.tar.gz".format(ctx.label.name, gid)),
            descriptor = ctx.actions.declare_file("{}.shared/{}.json".format(ctx.label.name, gid)),
        )
        args = ctx.actions.args()
        args.add("fleet-merge-group")
        args.add(gid, format = "--group=%s")
        for p in candidates.values():
            args.add_all("--package", [p.descriptor, p.blob])
        args.add("--blob", group.blob)
        args.add("--descriptor", group.descriptor)
        shown = ", ".join(members[:3]) + (" and {} more".format(len(members) - 3) if len(members) > 3 else "")
        pyimage_action(
            ctx,
            args,
            inputs = [f for p in candidates.values() for f in (p.descriptor, p.blob)],
            outputs = [group.blob, group.descriptor],
            mnemonic = "PyImageFleetMerge",
            progress_message = "Merging a shared layer of fleet %{{label}}: {}".format(shown),
        )
        groups.append(group)
        for image in complete:
            by_image.setdefault(image, []).append(group)
    return by_image, groups

def _py_image_fleet_impl(ctx):
    # Planning and reporting read descriptors only; each merge the blobs it merges.
    inputs_json, inputs, packages_of = _fleet_inputs(ctx)
    lock = ctx.file.lock
    lock_inputs = [lock] if lock else []

    # The plan is the lock's next content; its `.bzl` form is the shared
    # layers `.update` writes beside the lock.
    plan = ctx.actions.declare_file(ctx.label.name + ".plan.json")
    shared_bzl = ctx.actions.declare_file(ctx.label.name + ".shared_layers.bzl")
    args = ctx.actions.args()
    args.add("fleet-plan")
    args.add("--inputs", inputs_json)
    if lock:
        args.add("--previous", lock)
    args.add("--out", plan)
    args.add("--shared-layers-out", shared_bzl)
    args.add(ctx.attr.lock_path, format = "--lock-path=%s")
    args.add(shared_layers_path(ctx.attr.lock_path), format = "--shared-layers-path=%s")
    args.add(ctx.attr.update_target, format = "--update-target=%s")
    pyimage_action(
        ctx,
        args,
        inputs = depset(lock_inputs, transitive = [inputs]),
        outputs = [plan, shared_bzl],
        mnemonic = "PyImageFleetPlan",
        progress_message = "Planning the layers of fleet %{label}",
    )

    by_image, groups = _shared_layers(ctx, packages_of)

    # What the BUILD file passed as `shared_layers`, for the fleet's test.
    given = ctx.actions.declare_file(ctx.label.name + ".shared_layers_given.json")
    ctx.actions.write(given, json.encode({
        "given": ctx.attr.shared_layers_given,
        "groups": ctx.attr.shared_groups,
        "images": ctx.attr.image_groups,
    }))

    # What the plan shares and saves, in text and JSON (`<name>.report`).
    report = ctx.actions.declare_file(ctx.label.name + ".report.txt")
    report_json = ctx.actions.declare_file(ctx.label.name + ".report.json")
    args = ctx.actions.args()
    args.add("fleet-report")
    args.add("--inputs", inputs_json)
    args.add("--plan", plan)
    if lock:
        args.add("--lock", lock)
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
        DefaultInfo(files = depset([plan, shared_bzl])),
        OutputGroupInfo(
            report = depset([report, report_json]),
            shared_layers = depset([g.blob for g in groups] + [g.descriptor for g in groups]),
        ),
        PyImageFleetInfo(
            groups = by_image,
            label = "//{}:{}".format(ctx.label.package, ctx.label.name) if not ctx.label.workspace_name else str(ctx.label),
            lock = lock,
            lock_path = ctx.attr.lock_path,
            update_target = ctx.attr.update_target,
            plan = plan,
            report = report,
            report_json = report_json,
            shared_layers_bzl = shared_bzl,
            shared_layers_given = given,
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
        "image_groups": attr.string_list_dict(
            doc = "Image name -> the ids of its shared layers (`images` of the lock's `.bzl` form).",
        ),
        "lock": attr.label(allow_single_file = [".json"], doc = "The lock file, if there is one yet."),
        "lock_path": attr.string(mandatory = True, doc = "The lock's path in the source tree."),
        "shared_groups": attr.string_list_dict(
            doc = "Shared layer id -> its package ids (`groups` of the lock's `.bzl` form).",
        ),
        "shared_layers_given": attr.bool(doc = "Whether the BUILD file passed the lock's `.bzl` form."),
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

def shared_layers_path(lock_path):
    """Where the `.bzl` form of the lock at `lock_path` lives (`x.json` -> `x.bzl`).

    Args:
        lock_path: the lock's path in the source tree.

    Returns:
        The `.bzl` file's path (the one place that names it: pyimage is told).
    """
    stem = lock_path[:-len(".json")] if lock_path.endswith(".json") else lock_path
    return stem + ".bzl"

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
        shared_layers = fleet.shared_layers_bzl,
        shared_layers_path = shared_layers_path(fleet.lock_path),
        shared_layers_given = fleet.shared_layers_given,
        fleet_label = fleet.label,
    )
    files = [fleet.plan, fleet.shared_layers_bzl, fleet.shared_layers_given]
    files += [fleet.lock] if fleet.lock else []
    runfiles = ctx.runfiles(files = files).merge(ctx.attr._pyimage[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

def _update_impl(ctx):
    return _script(ctx, "fleet-update")

def _test_impl(ctx):
    return _script(ctx, "fleet-check")

_SCRIPT_ATTRS = {
    "fleet": attr.label(mandatory = True, providers = [PyImageFleetInfo]),
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
    doc = "`bazel run` writes the fleet's plan into its lock file, and the lock's shared layers into its `.bzl` form, in the source tree.",
)

py_image_fleet_test = rule(
    implementation = _test_impl,
    test = True,
    attrs = _SCRIPT_ATTRS,
    doc = "Fails when the fleet's lock file (or the shared layers its BUILD file passes) is stale, printing what to do.",
)

def _split_shared_layers(fleet, shared_layers):
    """The `groups` and `images` of a lock's `.bzl` form, checked."""
    if shared_layers == None:
        return {}, {}
    ok = type(shared_layers) == "dict" and sorted(shared_layers.keys()) == ["groups", "images"]
    if ok:
        for part in shared_layers.values():
            ok = ok and type(part) == "dict" and all([type(v) == "list" for v in part.values()])
    if not ok:
        fail("py_image_fleet {}: shared_layers must be the SHARED_LAYERS of the lock's .bzl form (written by `bazel run :{}.update`), not {}".format(fleet, fleet, type(shared_layers)))
    return shared_layers["groups"], shared_layers["images"]

# Attributes of test rules only (Bazel's "Attributes common to all test
# rules" that a build or run target refuses).
_TEST_ONLY_ATTRS = ["flaky", "local", "shard_count", "size", "timeout"]

def py_image_fleet(name, images, lock = None, shared_layers = None, **kwargs):
    """One layer plan for several `py_image`s, kept in a lock file.

    Makes:
    - `<name>`: plans the images together (`<name>.plan.json`), and merges
      each shared layer of the lock (a layer of several packages) in an
      action of its own, once for all the images that hold it. Give it to
      each `py_image` as `fleet`: an image depends only on its own packages
      and shared layers, so building one image builds nothing of the others.
    - `<name>.update`: `bazel run` writes the plan into the lock file
      (sorted JSON), keeping every layer whose packages did not change, and
      the lock's shared layers into its `.bzl` form beside it
      (`<name>.lock.bzl`), which the BUILD file loads and passes as
      `shared_layers`.
    - `<name>_test`: fails when the lock or its `.bzl` form is stale or
      missing, or the BUILD file does not pass `shared_layers`, and prints
      what to do.
    - `<name>.report`: `bazel run` prints, per image, its layers and how many
      images share each; per layer, its digest, size and the images that hold
      it; and the compressed bytes the fleet stores beside one site-packages
      layer per app. `bazel build` writes it as `<name>.report.txt` and
      `<name>.report.json`.

    ```starlark
    load(":fleet.lock.bzl", "SHARED_LAYERS")
    py_image_fleet(
        name = "fleet",
        images = ["//apps/api:image", "//apps/web:image"],
        shared_layers = SHARED_LAYERS,
    )
    ```

    Images follow the lock where it is current; packages it does not know yet
    (a new dependency before the lock is updated) or whose bytes changed
    still get layers, within the cap. Without a lock file, images are planned
    alone; without `shared_layers`, each image merges its shared layers
    itself (the same bytes, built once per image).

    Args:
        name: name of the fleet target.
        images: the `py_image` targets of the fleet (their `<image>.inputs`
            targets are what is planned).
        lock: the lock file's name in this package; default `<name>.lock.json`.
            It may be missing until the first `bazel run :<name>.update`.
        shared_layers: `SHARED_LAYERS` of the lock's `.bzl` form (the lock's
            name with `.bzl` for `.json`), loaded by the BUILD file. Bazel
            reads it when it loads the BUILD file, so the shared layers are
            known when it analyses: one merge action each. None until the
            first `.update` writes it.
        **kwargs: attributes of every target it makes (tags, visibility,
            ...). Each is a command users run (build, `.update`, `.report`,
            `_test`), so none is internal or tagged `manual`. Those only
            tests take (`size`, `timeout`, `flaky`, `shard_count`, `local`)
            go to `<name>_test` alone.
    """
    test_kwargs = {k: kwargs.pop(k) for k in _TEST_ONLY_ATTRS if k in kwargs}
    lock_name = lock or name + ".lock.json"
    found = native.glob([lock_name], allow_empty = True)
    lock_path = native.package_name() + "/" + lock_name if native.package_name() else lock_name
    shared_groups, image_groups = _split_shared_layers(name, shared_layers)

    # Images all over the repository use the fleet: visible to all unless said.
    fleet_kwargs = dict(kwargs)
    if "visibility" not in fleet_kwargs:
        fleet_kwargs["visibility"] = ["//visibility:public"]
    update_target = "//{}:{}.update".format(native.package_name(), name)
    py_image_fleet_rule(
        name = name,
        images = [image + ".inputs" for image in images],
        lock = found[0] if found else None,
        lock_path = lock_path,
        image_groups = image_groups,
        shared_groups = shared_groups,
        shared_layers_given = shared_layers != None,
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
        **kwargs
    )
    py_image_fleet_test(
        name = name + "_test",
        fleet = ":" + name,
        **dict(kwargs, **test_kwargs)
    )
