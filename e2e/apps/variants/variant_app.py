"""Prints where typing_extensions comes from and which build of it this is."""

import hashlib
import sys
from pathlib import Path

import jaraco.functools
import more_itertools
import typing_extensions

source = Path(typing_extensions.__file__).read_bytes()
build = "patched" if b"a second build of this release" in source else "as released"
print(f"{sys.argv[1]}: typing_extensions {build} from {typing_extensions.__file__}")
print(f"{sys.argv[1]}: sha256 {hashlib.sha256(source).hexdigest()}")
print(f"{sys.argv[1]}: {more_itertools.__name__} {jaraco.functools.__name__}")
