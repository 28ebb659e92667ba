"""The one action that writes a layer: manifest -> blob (gzip or zstd) and descriptor."""

load(":pyimage_action.bzl", "pyimage_action")

visibility(["//py/..."])

def write_layer(ctx, prefix, package, entries, inputs, mnemonic, progress_message, bytecode, compression, drop_rules_python_shims = False, drop_links_into = []):
    """Declares `<prefix>manifest.json`, `<prefix>tar.gz` (or `.tar.zst`), `<prefix>json` and the action.

    No uncompressed `.tar` is written: nothing reads one (a merge inflates
    the blob's files part), and every cache would store it.

    Args:
        ctx: the rule or aspect context.
        prefix: prefix of the output names (in the current package).
        package: the layer's identity (`name==version`, `app:<label>`, ...).
        entries: manifest entries: dicts with `path` (in the image) and `src`
            (execroot path) or `src_or_link` (the same, kept as a link when
            it is a declared symlink).
        inputs: depset of the source files.
        mnemonic: the action's mnemonic.
        progress_message: its progress message.
        bytecode: what `bytecode_version` (bytecode.bzl) gives: with a
            `version`, the layer carries its modules' bytecode for that Python,
            compiled by `interpreter` (with `inputs`); None or no version: none.
        compression: what `compression_of` (compression.bzl) gives.
        drop_rules_python_shims: leave out rules_python's namespace `__init__.py` shims.
        drop_links_into: folders in the image: symlinks resolving into them are left out.

    Returns:
        struct(blob, descriptor).
    """
    manifest = ctx.actions.declare_file(prefix + "manifest.json")
    content = {"entries": entries, "package": package}
    if drop_links_into:
        content["drop_links_into"] = drop_links_into
    ctx.actions.write(manifest, json.encode(content))
    blob = ctx.actions.declare_file(prefix + compression.suffix)
    descriptor = ctx.actions.declare_file(prefix + "json")
    args = ctx.actions.args()
    args.add("package-tar")
    args.add("--manifest", manifest)
    args.add("--src-root", ".")
    if drop_rules_python_shims:
        args.add("--drop-rules-python-shims")
    args.add_all(compression.args)
    extra = [depset(compression.inputs)]
    if bytecode and bytecode.version:
        args.add("--python-version", bytecode.version)
        if bytecode.interpreter:
            args.add("--python", bytecode.interpreter)
        extra.append(bytecode.inputs)
    args.add("--blob", blob)
    args.add("--descriptor", descriptor)
    pyimage_action(
        ctx,
        args,
        inputs = depset([manifest], transitive = [inputs] + extra),
        outputs = [blob, descriptor],
        mnemonic = mnemonic,
        progress_message = progress_message,
    )
    return struct(blob = blob, descriptor = descriptor)
