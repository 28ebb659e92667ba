"""Analysis test of what the fleet's actions take: descriptors to plan and report, blobs to merge."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

def _fleet_actions_test_impl(ctx):
    env = analysistest.begin(ctx)
    by_mnemonic = {a.mnemonic: a for a in analysistest.target_actions(env)}
    for mnemonic in ["PyImageFleetPlan", "PyImageFleetMerge", "PyImageFleetReport"]:
        asserts.true(env, mnemonic in by_mnemonic, "no {} action".format(mnemonic))
    for mnemonic, wants_blobs in [
        ("PyImageFleetPlan", False),
        ("PyImageFleetReport", False),
        ("PyImageFleetMerge", True),
    ]:
        action = by_mnemonic.get(mnemonic)
        if not action:
            continue
        inputs = [f.basename for f in action.inputs.to_list()]
        blobs = [b for b in inputs if b == "layer.tar.gz"]
        descriptors = [b for b in inputs if b == "layer.json"]
        asserts.true(env, len(descriptors) > 0, "{} takes no package descriptor".format(mnemonic))
        if wants_blobs:
            asserts.equals(env, len(descriptors), len(blobs), "blobs {} takes".format(mnemonic))
        else:
            asserts.equals(env, [], blobs, "package blobs {} takes".format(mnemonic))
        asserts.equals(env, [], [b for b in inputs if b.endswith(".tar")], "tars {} takes".format(mnemonic))
    return analysistest.end(env)

fleet_actions_test = analysistest.make(_fleet_actions_test_impl)
