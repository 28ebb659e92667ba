"""Analysis tests of what the fleet's actions take, and what an image of a fleet takes.

Planning and reporting read descriptors only; each shared layer is merged by
an action of its own from its members' blobs; an image's layout action takes
only its own packages and its own shared layers.
"""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

def _basenames(action):
    return [f.basename for f in action.inputs.to_list()]

def _fleet_actions_test_impl(ctx):
    env = analysistest.begin(ctx)
    actions = analysistest.target_actions(env)
    for mnemonic in ["PyImageFleetPlan", "PyImageFleetReport"]:
        found = [a for a in actions if a.mnemonic == mnemonic]
        asserts.equals(env, 1, len(found), "{} actions".format(mnemonic))
        for action in found:
            inputs = _basenames(action)
            asserts.true(env, "layer.json" in inputs, "{} takes no package descriptor".format(mnemonic))
            asserts.equals(env, [], [b for b in inputs if b.endswith(".tar.gz") or b.endswith(".tar")], "blobs and tars {} takes".format(mnemonic))
    merges = {}
    for action in actions:
        if action.mnemonic == "PyImageFleetMerge":
            group = [f.basename for f in action.outputs.to_list() if f.basename.endswith(".tar.gz")][0]
            merges[group[:-len(".tar.gz")]] = action
    asserts.equals(env, sorted(ctx.attr.merges.keys()), sorted(merges.keys()), "the shared layers merged")
    for group, action in merges.items():
        members = sorted([f.owner.name for f in action.inputs.to_list() if f.basename == "layer.tar.gz"])
        asserts.equals(env, sorted(ctx.attr.merges[group]), members, "the blobs merged for {}".format(group))
        asserts.equals(env, len(members), len([b for b in _basenames(action) if b == "layer.json"]), "descriptors of {}".format(group))
    return analysistest.end(env)

fleet_actions_test = analysistest.make(
    _fleet_actions_test_impl,
    attrs = {
        "merges": attr.string_list_dict(doc = "Shared layer id -> the labels (names) of the packages whose blobs its merge takes."),
    },
)

def _image_groups_test_impl(ctx):
    env = analysistest.begin(ctx)
    (layout,) = [a for a in analysistest.target_actions(env) if a.mnemonic == "PyImageLayout"]
    inputs = layout.inputs.to_list()
    shared = sorted([f.basename for f in inputs if f.dirname.endswith(".shared")])
    want = sorted([g + suffix for g in ctx.attr.groups for suffix in (".json", ".tar.gz")])
    asserts.equals(env, want, shared, "the fleet's shared layers the image takes")
    asserts.equals(env, [], [f.basename for f in inputs if f.basename.endswith("plan.json")], "fleet plans the image takes")
    return analysistest.end(env)

image_groups_test = analysistest.make(
    _image_groups_test_impl,
    attrs = {"groups": attr.string_list(doc = "The ids of the shared layers the image's layout action takes.")},
)
