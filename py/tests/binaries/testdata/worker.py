"""A second binary of the image: prints its environment and what it imports."""

import os
import sys

import six

print("worker", os.environ["RUNFILES_DIR"], six.__name__, sys.argv[1:])
