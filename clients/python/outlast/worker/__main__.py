"""``python -m outlast.worker``: see :mod:`outlast.worker.cli`."""

import sys

from .cli import main

sys.exit(main())
