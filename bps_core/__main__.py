"""``python -m bps_core`` runs the ``bps-labeler`` command line."""

import sys

from bps_core.cli import main

sys.exit(main())
