"""``python -m lmmpy``: the same command line as the ``lmmpy`` script (:mod:`lmmpy.cli`)."""

import sys

from lmmpy.cli import main

if __name__ == "__main__":
    sys.exit(main())
