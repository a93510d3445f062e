"""Entry point for ``python -m ninjarl``."""

import sys

from ninjarl.cli import main

sys.exit(main())
