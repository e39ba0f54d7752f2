"""``python -m bps_cli`` runs the ``bps-labeler`` command line."""

import sys

from bps_cli.main import main

sys.exit(main())
