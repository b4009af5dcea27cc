"""Entry point for ``python -m melange``."""

import sys

from melange.app.cli import main

sys.exit(main())
