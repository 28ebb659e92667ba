"""The commands rules_pyimage's Bazel actions run: argument parsing and file I/O only."""
