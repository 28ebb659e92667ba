"""Generated API docs: starlark_doc_extract output rendered as Markdown (docs/BUILD.bazel)."""
