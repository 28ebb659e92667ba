"""Analysis test: a py_binary that relies on no implicit `__init__.py`.

rules_python makes an empty `__init__.py` in every runfiles folder of a
binary unless `legacy_create_init = 0` (Bazel's `empty_filenames` of its
runfiles), and 2.3 warns on every build of one that does. `//tools/pyimage`
runs in every action of rules_pyimage, so users would see that warning.
"""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

def _no_implicit_init_test_impl(ctx):
    env = analysistest.begin(ctx)
    runfiles = analysistest.target_under_test(env)[DefaultInfo].default_runfiles
    made = [name for name in runfiles.empty_filenames.to_list() if name.endswith("__init__.py")]
    asserts.equals(env, [], made, "empty __init__.py files made in the runfiles")
    return analysistest.end(env)

no_implicit_init_test = analysistest.make(_no_implicit_init_test_impl)
