"""`py_image_fleet`: one layer plan for all images of a repository, kept in a lock file."""

load("@rules_pyimage_fleets//:fleets.bzl", "FLEETS")
load(":fleet_rule.bzl", "py_image_fleet_rule")
load(":fleet_scripts.bzl", "py_image_fleet_report", "py_image_fleet_test", "py_image_fleet_update")
load(":platforms.bzl", "is_oci_platform")

visibility(["//py/..."])

# Attributes of test rules only (Bazel's "Attributes common to all test
# rules" that a build or run target refuses).
_TEST_ONLY_ATTRS = ["flaky", "local", "shard_count", "size", "timeout"]

def _checked_platforms(fleet, platforms):
    """The fleet's `platforms`: a list of distinct `os/arch[/variant]`; fails naming the fleet otherwise."""
    if type(platforms) != "list" or not platforms:
        fail('py_image_fleet {}: platforms must be a non-empty list of os/arch[/variant], e.g. ["linux/amd64", "linux/arm64"]; leave it out to take images of any platforms'.format(fleet))
    for i, platform in enumerate(platforms):
        if not is_oci_platform(platform):
            fail('py_image_fleet {}: platforms holds {}, which is not os/arch[/variant] (OCI\'s names, lowercase); use e.g. "linux/arm64"'.format(fleet, repr(platform)))
        if platform in platforms[:i]:
            fail('py_image_fleet {}: platform "{}" is given twice in platforms; give it once'.format(fleet, platform))
    return platforms

def py_image_fleet(name, images, lock = None, platforms = None, layer_groups = {}, alone_packages = [], group_compression = {}, **kwargs):
    """One layer plan for several `py_image`s, kept in a lock file.

    Makes:
    - `<name>`: plans the images together (`<name>.plan.json`: the lock's
      next content).
    - `<name>.update`: `bazel run` writes the plan into the lock file (sorted
      JSON), keeping every layer whose packages did not change. A lock that
      does not parse (a merge conflict) is planned anew; one of an earlier
      format is migrated; one of a newer format is an error, never overwritten.
    - `<name>_test`: fails when the lock is stale, missing or unreadable, or
      MODULE.bazel does not declare the fleet, and prints what to do.
    - `<name>.report`: `bazel run` prints, per image, its layers and how many
      images share each; per layer, its digest, size and the images that hold
      it; and the compressed bytes the fleet stores beside one site-packages
      layer per app. `bazel build` writes it as `<name>.report.txt` and
      `<name>.report.json`, and the fleet's state, `<name>.state.json`: what
      every image holds as built (it builds every image). `bazel run
      //:fleet.report -- --since OLD.state.json` says what rolling out this
      state costs where the old one runs: per image, the layers added, kept
      and dropped, the bytes a node pulls, and the bytes the registry stores
      new, beside one site-packages layer per app and the heavy-list; with
      `--json FILE`, `--markdown FILE` (for a review comment), `--max-pull
      BYTES` (exit 1 when an image would pull more) and `--max-new BYTES`
      (the fleet's new registry bytes). See docs/guide.md.

    Its images follow the lock once MODULE.bazel declares it (Bazel reads the
    lock there, and gives each image its own slice of it: an image depends on
    its own packages and shared layers only, never on another image):

    ```starlark
    # MODULE.bazel
    pyimage = use_extension("@rules_pyimage//py:extensions.bzl", "pyimage")
    pyimage.fleet(fleet = "//:fleet", lock = "//:fleet.lock.json")

    # BUILD.bazel
    py_image_fleet(name = "fleet", images = ["//apps/api:image", "//apps/web:image"])
    ```

    and `fleet = "//:fleet"` on each `py_image`. Images follow the lock
    where it is current; packages it does not know yet (a new dependency
    before `.update`) or whose bytes changed still get layers, within the
    cap. Without a lock, or with one that does not parse, images are planned
    alone.

    Args:
        name: name of the fleet target.
        images: the `py_image` targets of the fleet (their `<image>.inputs`
            targets are what is planned).
        lock: the lock file's name in this package; default `<name>.lock.json`.
            MODULE.bazel's `pyimage.fleet(lock = ...)` must name the same file.
        platforms: the platforms (`os/arch[/variant]`) every image of the
            fleet must be built for, exactly: e.g. `["linux/amd64",
            "linux/arm64"]` where a cluster runs both, so that no image
            ships without its arm64 build. An image built for other ones
            (`py_image(platform = ...)` or `platforms = [...]`) fails the
            fleet's analysis in one line naming the image, its platforms
            and the fix. Default: none, images of any platforms (the lock
            records each image's, and plans each platform's image of an
            index as an image of its own either way).
        layer_groups: groups of packages (normalized names or globs) that
            travel together, each one layer in every image holding members
            of it, the other packages planned around them under each
            image's cap: `{"gpu": ["torch", "triton", "nvidia-*"]}` (an
            image's members form its layer: torch alone on a CPU image).
            The lock records them and images follow them; an image may not
            declare its own. A pattern that matches no package of the
            fleet, or a package claimed twice, fails the plan in one line.
        alone_packages: packages (names or globs) each kept in a layer of
            its own in every image.
        group_compression: a layer group's own compression, `gzip` or
            `zstd`, when it is not the images': `{"gpu": "zstd"}`. Its layers
            are shared layers of the lock (each merged once, from its
            members built in that compression), even a group of one
            package; the lock records it (docs/guide.md, Declared layers).
        **kwargs: attributes of every target it makes (tags, visibility,
            ...). Each is a command users run (build, `.update`, `.report`,
            `_test`), so none is internal or tagged `manual`. Those only
            tests take (`size`, `timeout`, `flaky`, `shard_count`, `local`)
            go to `<name>_test` alone.
    """
    test_kwargs = {k: kwargs.pop(k) for k in _TEST_ONLY_ATTRS if k in kwargs}
    lock_name = lock or name + ".lock.json"
    package = native.package_name()
    lock_path = package + "/" + lock_name if package else lock_name
    lock_label = native.package_relative_label(lock_name)
    fleet_label = native.package_relative_label(name)
    declared = FLEETS.get(str(fleet_label))
    undeclared = ""
    if declared == None:
        undeclared = 'pyimage = use_extension("@rules_pyimage//py:extensions.bzl", "pyimage"); pyimage.fleet(fleet = "//{}:{}", lock = "//{}:{}")'.format(package, name, package, lock_name)
    elif declared["lock"] != str(lock_label):
        fail("py_image_fleet {}: MODULE.bazel's pyimage.fleet names the lock {}, this names {}; make them one file".format(fleet_label, declared["lock"], lock_label))
    found = native.glob([lock_name], allow_empty = True)
    everything = Label("@rules_pyimage_fleets//{}:all".format(declared["all"])) if declared and declared["all"] else None
    update_target = "//{}:{}.update".format(package, name)
    py_image_fleet_rule(
        name = name,
        images = [image + ".inputs" for image in images],
        lock = found[0] if found else None,
        platforms = _checked_platforms("//{}:{}".format(package, name), platforms) if platforms != None else [],
        layer_groups = layer_groups,
        alone_packages = alone_packages,
        group_compression = group_compression,
        lock_path = lock_path,
        shared = everything,
        undeclared = undeclared,
        update_target = update_target,
        **kwargs
    )
    py_image_fleet_report(
        name = name + ".report",
        fleet = ":" + name,
        images = [image + ".layers" for image in images],
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
