"""``python -m dabnet_zoo``: the ``dabnet-zoo`` command."""

import sys

from .cli.main import main

sys.exit(main())
