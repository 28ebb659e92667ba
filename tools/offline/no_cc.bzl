"""A C toolchain that compiles nothing, for --config=offline's foreign target platforms.

Bazel 7's own `py_binary` (the one rules_python 0.22.1 uses) depends on the
C toolchain of its target platform at analysis (its `_cc_toolchain`
attribute), even with no C code: a `py_binary` built for linux/arm64 on this
x86-64 machine fails "Unable to find a CC toolchain" without one. This one
has no tools: anything that tried to compile or link with it would fail.
rules_python 1.x's `py_binary` does not need it (its C toolchain is
optional); users of the native rules register a real cross toolchain.
"""

def _no_cc_config_impl(ctx):
    # buildifier: disable=native-cc-common
    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        toolchain_identifier = "no-cc-" + ctx.attr.cpu,
        host_system_name = "local",
        target_system_name = ctx.attr.cpu + "-linux",
        target_cpu = ctx.attr.cpu,
        target_libc = "unknown",
        compiler = "none",
        abi_version = "unknown",
        abi_libc_version = "unknown",
    )

no_cc_config = rule(
    implementation = _no_cc_config_impl,
    attrs = {"cpu": attr.string(mandatory = True)},
    provides = [CcToolchainConfigInfo],
)
