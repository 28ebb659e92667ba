"""Analysis tests of pip_packages_aspect: which targets it takes for pip packages."""

load("@bazel_skylib//lib:sets.bzl", "sets")
load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//py/private:pip_packages_aspect.bzl", "pip_packages_aspect")
load("//py/private:providers.bzl", "PyImagePackagesInfo")
load("//py/tests:fails_test.bzl", "make_fails_test")

def _packages_test_impl(ctx):
    env = analysistest.begin(ctx)
    info = analysistest.target_under_test(env)[PyImagePackagesInfo]
    packages = info.packages.to_list()
    asserts.equals(
        env,
        sets.make(ctx.attr.expected_ids),
        sets.make([p.id for p in packages]),
        "package ids found by the aspect",
    )
    for p in packages:
        if p.id in ctx.attr.expected_holders:
            asserts.equals(env, ctx.attr.expected_holders[p.id], p.label.name, "target holding " + p.id)
        asserts.true(env, p.import_root.endswith("site-packages"), "import root of " + p.id)
        asserts.true(env, len(p.files.to_list()) > 0, "files of " + p.id)
    app_files = [f.basename for f in info.package_files.to_list() if f.basename == "main.py"]
    asserts.equals(env, [], app_files, "first-party files counted as package files")
    return analysistest.end(env)

packages_test = analysistest.make(
    _packages_test_impl,
    attrs = {
        "expected_holders": attr.string_dict(doc = "Package id -> name of the target expected to hold its files."),
        "expected_ids": attr.string_list(),
    },
    extra_target_under_test_aspects = [pip_packages_aspect],
)

def _entry_test_impl(ctx):
    env = analysistest.begin(ctx)
    entry = analysistest.target_under_test(env)[PyImagePackagesInfo].entry
    if not ctx.attr.expected_id:
        asserts.equals(env, None, entry, "the package it stands for")
    elif entry == None:
        asserts.true(env, False, "the target stands for no package")
    else:
        asserts.equals(env, ctx.attr.expected_id, entry.id, "the package it stands for")
        asserts.equals(env, ctx.attr.expected_holder, entry.label.name, "the target holding its files")
    return analysistest.end(env)

# The package a target stands for: what a fleet's shared layer is merged
# from, given a hub's `@pypi//six` (an alias: transparent, so its spoke).
entry_test = analysistest.make(
    _entry_test_impl,
    attrs = {
        "expected_holder": attr.string(doc = "The name of the target holding the package's files."),
        "expected_id": attr.string(doc = "The package's id; empty: the target stands for none."),
    },
    extra_target_under_test_aspects = [pip_packages_aspect],
)

# fails_test.bzl's, with the aspect: its errors are this file's subject.
fails_test = make_fails_test(aspects = [pip_packages_aspect])
