"""``python -m dabnet_zoo``: the ``dabnet-zoo`` command."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
