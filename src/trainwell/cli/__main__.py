"""``python -m trainwell.cli`` runs the command line, as ``python -m trainwell`` does."""

import sys

from .main import main

sys.exit(main())
