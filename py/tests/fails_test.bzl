"""`fails_test`: an analysis test that passes when its target fails analysis with a message.

The one such helper of the repository: `py/tests` (our rules' errors) and
`tools/offline/tests` (what the rules_oci stand-in refuses) both use it.
"""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

def _fails_test_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, ctx.attr.expected_message)
    return analysistest.end(env)

def make_fails_test(aspects = []):
    """A `fails_test` rule that also applies `aspects` to its target (for errors an aspect raises).

    Call it at the top level of a .bzl file and assign the result to a name there.

    Args:
        aspects: aspects to apply to the target under test.

    Returns:
        The test rule: attributes `target_under_test` and `expected_message`
        (a substring of the failure message).
    """
    return analysistest.make(
        _fails_test_impl,
        attrs = {"expected_message": attr.string(mandatory = True)},
        expect_failure = True,
        extra_target_under_test_aspects = aspects,
    )

fails_test = make_fails_test()
