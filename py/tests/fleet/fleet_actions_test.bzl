"""Analysis tests of what a fleet's actions take, and what an image of a fleet takes.

Planning and reporting read descriptors only; each shared layer is merged
by an action of its own (in the fleets' repository) from the blobs of the
packages its lock labels name; an image's layout action takes its own slice
of the lock and its own shared layers only.
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
    asserts.equals(env, [], [a.mnemonic for a in actions if a.mnemonic == "PyImageFleetMerge"], "merges of the fleet target")
    return analysistest.end(env)

fleet_actions_test = analysistest.make(_fleet_actions_test_impl)

def _group_merge_test_impl(ctx):
    env = analysistest.begin(ctx)
    (action,) = [a for a in analysistest.target_actions(env) if a.mnemonic == "PyImageFleetMerge"]
    suffix = {"gzip": "tar.gz", "zstd": "tar.zst"}[ctx.attr.compression]
    members = sorted([f.owner.package + ":" + f.owner.name for f in action.inputs.to_list() if f.basename == "layer." + suffix])
    asserts.equals(env, ["group." + suffix], [f.basename for f in action.outputs.to_list() if f.basename.startswith("group.tar")], "the merged blob")
    zstd = [a for a in action.argv if a.startswith("--zstd=")]
    asserts.equals(env, ctx.attr.compression == "zstd", len(zstd) == 1, "a zstd merge runs the zstd toolchain's binary: " + str(zstd))
    asserts.equals(env, sorted(ctx.attr.members), members, "the packages whose blobs the merge takes")
    asserts.equals(env, len(members), len([b for b in _basenames(action) if b == "layer.json"]), "their descriptors")
    asserts.equals(env, [], [b for b in _basenames(action) if b.endswith("plan.json") or b.endswith("lock.json")], "plans or locks the merge takes")
    return analysistest.end(env)

group_merge_test = analysistest.make(
    _group_merge_test_impl,
    attrs = {
        "compression": attr.string(default = "gzip", doc = "The compression the lock records for the group's members."),
        "members": attr.string_list(doc = "The package targets whose blobs the merge takes (`package:name`, in their repository)."),
    },
)

def _image_groups_test_impl(ctx):
    env = analysistest.begin(ctx)
    (layout,) = [a for a in analysistest.target_actions(env) if a.mnemonic == "PyImageLayout"]
    inputs = layout.inputs.to_list()
    shared = sorted([f.owner.package.split("/g/")[-1] + "/" + f.basename for f in inputs if "/g/" in f.owner.package])
    blob = lambda g: ".tar.zst" if g in ctx.attr.zstd_groups else ".tar.gz"
    want = sorted([g + "/group" + suffix for g in ctx.attr.groups for suffix in (".json", blob(g))])
    asserts.equals(env, want, shared, "the fleet's shared layers the image takes")
    zstd = [a for a in layout.argv if a.startswith("--zstd=")]
    asserts.equals(env, ctx.attr.zstd, len(zstd) == 1, "the zstd program for the fleet's groups of zstd in a gzip image: " + str(zstd))
    asserts.equals(env, [], [f.basename for f in inputs if f.basename.endswith("plan.json")], "fleet plans the image takes")
    locks = [f for f in inputs if f.basename.endswith("lock.json") or f.basename == "slice.json"]
    asserts.equals(env, ["slice.json"], [f.basename for f in locks], "the lock the image takes: its slice alone")
    return analysistest.end(env)

image_groups_test = analysistest.make(
    _image_groups_test_impl,
    attrs = {
        "groups": attr.string_list(doc = "The ids of the shared layers the image's layout action takes."),
        "zstd": attr.bool(doc = "Whether the action gets the zstd program (a group of the fleet chooses zstd)."),
        "zstd_groups": attr.string_list(doc = "Those of zstd: a declared group's own compression."),
    },
)
