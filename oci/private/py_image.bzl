"""`py_image`: a Python container image with shared, capped package layers."""

load("@rules_oci//oci:defs.bzl", "oci_image", "oci_image_index", "oci_load")
load("//py:defs.bzl", "DEFAULT_MAX_LAYERS", "py_image_parts")
load(":repo_tags.bzl", "default_repo_tag", "repo_tags_file")

visibility(["//oci/..."])

def py_image(
        name,
        binary = None,
        binaries = None,
        default_binary = None,
        base = None,
        max_layers = DEFAULT_MAX_LAYERS,
        args = [],
        env = {},
        python = "python3",
        platform = None,
        platforms = None,
        load_platform = None,
        workdir = None,
        user = None,
        labels = None,
        annotations = None,
        exposed_ports = None,
        volumes = None,
        repo_tags = None,
        fleet = None,
        compression = "gzip",
        layer_groups = {},
        alone_packages = [],
        group_compression = {},
        **kwargs):
    """A container image of a `py_binary`, its pip packages in shared layers.

    Makes these targets:
    - `<name>`: rules_oci's `oci_image`: the OCI layout of `<name>.layers`
      (base, interpreter and package layers) plus the app layer and config.
      With `platforms`, rules_oci's `oci_image_index` of one `oci_image` per
      platform, `<name>.<os>_<arch>[_<variant>]` (`<name>.linux_arm64`),
      each with the targets below under that name (`<name>.linux_arm64.layers`,
      `.plan`, `.inputs`, ...), built for its platform (see `platforms`);
      then `<name>.layers` and `<name>.inputs` hold every platform's (a
      `py_image_fleet` plans and reports each).
    - `<name>.layers`: `py_image_layers`, everything but rules_oci's part
      (visible to every package, for a fleet's `.report`).
    - `<name>.digest`: made by rules_oci's `oci_image` macro: a file
      `<name>.json.sha256` holding the image manifest's digest.
    - `<name>.load`: rules_oci's `oci_load`; `bazel run //pkg:<name>.load`
      loads the image into the local container runtime; its output group
      `tarball` is the image as a `docker load` tarball. With `platforms`,
      the image of the build's CPU (this machine's: an Apple-silicon Mac
      loads linux/arm64), the first platform's for a CPU none has, or
      `load_platform`'s.
    - `<name>.plan`: the layer plan report; `bazel run` prints it as a table.
    - `<name>.inputs`: what a `py_image_fleet` plans of this image
      (visible to every package, for the fleet).
    - `<name>.layers_layout`, `_app_layer`, `_entrypoint`, `_env`: the
      outputs of `<name>.layers` that `oci_image` takes; `<name>.repo_tags`
      when `repo_tags` is a file.

    `<name>` and `<name>.load` get every keyword argument of `**kwargs`; the
    others are the macro's own: they get only Bazel's common attributes among
    them (`tags`, `visibility`, `testonly`, `target_compatible_with`, ...,
    see py/private/internal_kwargs.bzl) and the tag `manual`, so that
    `bazel build //...` builds them as dependencies of `<name>` only.

    Args:
        name: name of the image target.
        binary: the `py_binary` to run.
        binaries: several `py_binary` targets in one image, instead of
            `binary` (a server and its worker, a CLI): each gets its own app
            layer (its runfiles, `/app/<name>.runfiles`) and launcher,
            `/app/<name>`, a Python script that runs it with its own
            `PYTHONPATH` and `RUNFILES_DIR` (`podman run --entrypoint
            /app/worker IMAGE`, or `<python> /app/worker` on a base whose
            `/usr/bin/env` is missing); their pip packages are the union of
            theirs, each package once. Two binaries of one name, or needing
            two versions of one package, or two Pythons, fail the build
            naming both (docs/guide.md, Several binaries).
        default_binary: with `binaries`, the one the image runs (its
            entrypoint and environment, `args` after it); default: the
            first.
        base: the base image, an OCI layout (e.g. from `oci_pull`); none for scratch.
        max_layers: the most layers of the image, base and app included (at most 125).
        args: arguments of the binary, after the entrypoint. Newlines,
            spaces and Unicode are kept; an empty argument, or one holding
            the text `%5Cn` (rules_oci's code for a newline), is refused:
            rules_oci cannot carry it.
        env: environment variables of the container, on top of the
            `PYTHONPATH` and `RUNFILES_DIR` the app needs (a key given here
            replaces ours). As in rules_oci, `$NAME` and `${NAME}` in a value
            expand to the base image's `NAME` (empty when the base has none;
            there is no escape): `{"PATH": "/opt/tools/bin:$PATH"}`. A value
            may not refer to another key this image sets, nor hold a newline.
        python: the interpreter command, when the Python toolchain brings no
            interpreter files of its own (then the base image must have it).
        platform: the platform (`os/arch[/variant]`) of the image, and of the
            manifest to build on when the base is a multi-platform index.
            Default `linux/amd64`. Its pip packages are those the build
            resolves (the wheels of the `pip.parse` hub the binary uses);
            for an image index use `platforms`.
        platforms: the platforms of an image index (`:<name>` is
            `oci_image_index`), e.g. `["linux/amd64", "linux/arm64"]`: OCI's
            names of a Bazel platform of `@rules_pyimage//py/platforms`
            (linux/386, amd64, arm/v7, arm64, loong64, ppc64le, riscv64,
            s390x). Each platform's image is built for that Bazel platform
            (a transition), so a `select()` on `@platforms//cpu` (or
            `@rules_pyimage//py/platforms:is_linux_arm64`, ...) in the
            binary's `deps` picks each platform's wheels, and one in `base`
            its base; a base that is itself an index serves every platform.
            Or a dict of OCI names to Bazel platforms of your own, each
            image built for its label: `{"linux/amd64":
            "//platforms:linux_x86_64", "linux/arm64": "//platforms:graviton"}`
            (for constraints of yours, such as a libc or a board, that your
            `select()`s or toolchains read).
            Not with `platform`. In a `fleet`, each platform's image is an
            image of the fleet's lock (`//pkg:<name>.linux_arm64`, its
            platform recorded) and follows its own entry (docs/guide.md,
            Platforms).
        load_platform: with `platforms`, the platform `<name>.load` loads;
            default: the one of the build's CPU (this machine's), else the
            first.
        workdir: the container's working directory.
        user: the user the container runs as.
        labels: image labels (dict or file), passed to `oci_image`.
        annotations: manifest annotations (dict or file), passed to `oci_image`.
        exposed_ports: ports, passed to `oci_image`.
        volumes: volumes, passed to `oci_image`.
        repo_tags: `repository:tag` names for `<name>.load`: a list, or the
            label of a `.txt` file with one a line (rules_oci's `oci_load`
            reads no other file). Default: `bazel/<package>:<name>` made
            valid as a reference (lowercase, separators fixed;
            `bazel/root:<name>` in the root package; see docs/guide.md).
        fleet: the `py_image_fleet` (`//:fleet`) whose lock this image
            follows, so that its layers shared with other images are
            byte-identical. The image depends on its own slice of the lock
            (from MODULE.bazel's `pyimage.fleet`), never on the fleet target
            or another image.
        compression: how every layer of the image is compressed: `gzip`
            (default), or `zstd` (`tar+zstd` layers, written with
            aspect_bazel_lib's zstd toolchain, which rules_oci registers, at
            `--@rules_pyimage//py:zstd_level`, default 3). Every image of a
            fleet has the fleet's (the lock records it); see docs/guide.md.
        layer_groups: groups of packages (normalized names or globs) that
            travel together, each one layer, the other packages planned
            around them under the same cap: `{"gpu": ["torch", "triton",
            "nvidia-*"]}`. The image's members of a group form its layer
            (torch alone on a CPU image). Not with `fleet`: declare them on
            the `py_image_fleet` (docs/guide.md, Declared layers).
        alone_packages: packages (names or globs) each kept in a layer of
            its own. Not with `fleet` either.
        group_compression: a layer group's own compression when it is not
            the image's: `{"gpu": "zstd"}` (its packages are compressed
            again for that layer). Not with `fleet` either.
        **kwargs: attributes of `<name>` and `<name>.load` (`tags`,
            `visibility`, `testonly`, ...); the macro's other targets get
            only the common ones, and `manual`.
    """
    parts = py_image_parts(
        name = name,
        binary = binary,
        binaries = binaries,
        default_binary = default_binary,
        base = base,
        max_layers = max_layers,
        args = args,
        env = env,
        python = python,
        platform = platform,
        platforms = platforms,
        fleet = fleet,
        compression = compression,
        layer_groups = layer_groups,
        alone_packages = alone_packages,
        group_compression = group_compression,
        **kwargs
    )
    image_name = parts.image_name
    internal = parts.internal
    config = dict(
        workdir = workdir,
        user = user,
        labels = labels,
        annotations = annotations,
        exposed_ports = exposed_ports,
        volumes = volumes,
    )
    if platforms == None:
        if load_platform != None:
            fail("py_image {}: load_platform picks one of `platforms`; with one platform, leave it out".format(image_name))
        oci_image(
            name = name,
            base = parts.layout,
            tars = [parts.app_layer],  # every binary's app layer, the default's first
            entrypoint = parts.entrypoint,
            env = parts.env,
            **(config | kwargs)
        )
        loaded = ":" + name
    else:
        for p in parts.platforms:
            oci_image(
                name = p.name,
                base = p.layout,
                tars = [p.app_layer],
                entrypoint = p.entrypoint,
                env = p.env,
                **(config | internal)
            )
        oci_image_index(
            name = name,
            images = [":" + p.name for p in parts.platforms],
            **kwargs
        )
        loaded = _loaded_image(image_name, parts.platforms, load_platform)
    if repo_tags == None:
        repo_tags = [default_repo_tag(native.package_name(), name)]
    elif type(repo_tags) == "list":
        if not repo_tags:
            fail("py_image {}: repo_tags is an empty list; give at least one `repository:tag`, or leave it out for the default".format(image_name))
    elif type(repo_tags) == "string" or type(repo_tags) == "Label":
        repo_tags_file(
            name = name + ".repo_tags",
            src = repo_tags,
            image = image_name,
            **internal
        )
        repo_tags = ":" + name + ".repo_tags"
    else:
        fail("py_image {}: repo_tags must be a list of `repository:tag` or the label of a `.txt` file, not {}".format(image_name, type(repo_tags)))
    oci_load(
        name = name + ".load",
        image = loaded,
        repo_tags = repo_tags,
        **kwargs
    )

def _loaded_image(image_name, platforms, load_platform):
    """What `<name>.load` of an image index loads: one platform's image.

    Args:
        image_name: the image's label, for messages.
        platforms: py_image_parts' structs of the platforms.
        load_platform: the platform users named, or None.

    Returns:
        The label of that platform's `oci_image`, or a `select()` of the one
        whose CPU is the build's (the first platform's for another CPU).
    """
    if load_platform != None:
        named = [p for p in platforms if p.platform == load_platform]
        if not named:
            fail("py_image {}: load_platform = \"{}\" is not one of its platforms ({}); name one of them".format(
                image_name,
                load_platform,
                ", ".join([p.platform for p in platforms]),
            ))
        return ":" + named[0].name

    # By the CPU alone: an Apple-silicon Mac (darwin/arm64) loads linux/arm64
    # into its Linux VM; a machine of no CPU of the index loads the first.
    loaded = {p.cpu: ":" + p.name for p in platforms if p.cpu}
    loaded["//conditions:default"] = ":" + platforms[0].name
    return select(loaded)
