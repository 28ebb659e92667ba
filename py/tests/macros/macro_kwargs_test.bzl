"""Analysis tests of which keyword arguments of `py_image` and `py_image_fleet` reach which of their targets."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

_SeenAttrsInfo = provider(
    doc = "Some attributes of the target under test, as its rule got them.",
    fields = ["deprecation", "exec_properties", "size", "tags", "testonly"],
)

def _seen_attrs_impl(_target, ctx):
    return [_SeenAttrsInfo(
        deprecation = getattr(ctx.rule.attr, "deprecation", None),
        exec_properties = getattr(ctx.rule.attr, "exec_properties", None),
        size = getattr(ctx.rule.attr, "size", None),
        tags = getattr(ctx.rule.attr, "tags", []),
        testonly = getattr(ctx.rule.attr, "testonly", None),
    )]

_seen_attrs = aspect(implementation = _seen_attrs_impl)

def _macro_target_test_impl(ctx):
    env = analysistest.begin(ctx)
    seen = analysistest.target_under_test(env)[_SeenAttrsInfo]
    asserts.equals(env, ctx.attr.own, "manual" in seen.tags, "tagged manual (only the macro's own targets are): {}".format(seen.tags))
    asserts.true(env, "kw_tag" in seen.tags, "the user's tag kept: {}".format(seen.tags))
    asserts.equals(env, True, seen.testonly, "testonly")
    asserts.equals(env, not ctx.attr.own, bool(seen.deprecation), "deprecation (only the user's targets get it): {}".format(seen.deprecation))
    if ctx.attr.runs_actions:
        asserts.equals(env, {"kw_image": "1"}, seen.exec_properties, "exec_properties")
    return analysistest.end(env)

def _fleet_target_test_impl(ctx):
    env = analysistest.begin(ctx)
    seen = analysistest.target_under_test(env)[_SeenAttrsInfo]
    asserts.true(env, "kw_tag" in seen.tags, "the user's tag kept: {}".format(seen.tags))
    asserts.equals(env, ctx.attr.size_seen or None, seen.size, "size (only the fleet's test takes it)")
    return analysistest.end(env)

fleet_target_test = analysistest.make(
    _fleet_target_test_impl,
    attrs = {"size_seen": attr.string(doc = "The size the target under test has; empty: none (not a test).")},
    extra_target_under_test_aspects = [_seen_attrs],
)

macro_target_test = analysistest.make(
    _macro_target_test_impl,
    attrs = {
        "own": attr.bool(doc = "The target under test is one the macro makes for itself (not `<name>` nor `<name>.load`)."),
        "runs_actions": attr.bool(default = True, doc = "It takes exec_properties (a filegroup does not)."),
    },
    extra_target_under_test_aspects = [_seen_attrs],
)
