"""``python3 -m pyimage``: see :mod:`pyimage.cli`."""

import sys

from pyimage.cli import main

sys.exit(main())
