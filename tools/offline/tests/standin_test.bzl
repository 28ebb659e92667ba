"""Analysis tests of the offline rules_oci stand-in: it refuses what rules_oci 2.3.2 refuses.

Each misuse below is one that the real rules_oci fails at analysis time
(facts from its sources: attribute declarations and the checks its rule
implementations make before declaring any action).
"""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("@rules_oci//oci:defs.bzl", "oci_image")
load("//py/tests:fails_test.bzl", "fails_test")

def _relative(target, files):
    """Paths of ``files`` relative to ``target``'s package."""
    return [f.short_path.removeprefix(target.label.package + "/") for f in files]

def _outputs_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    info = target[DefaultInfo]
    asserts.equals(env, ctx.attr.files, _relative(target, info.files.to_list()), "default outputs")
    for group, path in ctx.attr.output_groups.items():
        got = getattr(target[OutputGroupInfo], group, None) if OutputGroupInfo in target else None
        asserts.equals(env, [path], _relative(target, got.to_list()) if got else [], "output group " + group)
    executable = info.files_to_run.executable
    asserts.equals(env, ctx.attr.executable, _relative(target, [executable])[0] if executable else "", "executable")
    return analysistest.end(env)

outputs_test = analysistest.make(
    _outputs_test_impl,
    attrs = {
        "executable": attr.string(),
        "files": attr.string_list(),
        "output_groups": attr.string_dict(),
    },
)

# The file attributes of oci_image that take exactly one file.
SINGLE_FILE_ATTRS = ["base", "entrypoint", "cmd", "env", "labels", "annotations", "exposed_ports", "volumes", "created"]

def single_file_tests(name, two_files):
    """For each single-file attribute of oci_image: given two files, analysis fails.

    Args:
        name: prefix of the targets.
        two_files: a target with two files.
    """
    for attr in SINGLE_FILE_ATTRS:
        kwargs = {attr: two_files}
        if attr != "base":
            kwargs["os"] = "linux"
            kwargs["architecture"] = "amd64"
        oci_image(name = "{}_{}".format(name, attr), tags = ["manual"], **kwargs)
        fails_test(
            name = "{}_{}_test".format(name, attr),
            target_under_test = "{}_{}".format(name, attr),
            expected_message = "must produce a single file",
        )
