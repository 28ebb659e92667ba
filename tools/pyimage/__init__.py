"""pyimage: layer planning and layer/OCI-layout writing for rules_pyimage.

Standard library only: every module here runs inside Bazel actions with
whatever Python interpreter the toolchain provides.
"""

__all__ = ["PyimageError"]

from pyimage.errors import PyimageError
