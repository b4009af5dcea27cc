"""Entry point for ``python -m melange``."""

import sys

from melange.cli import main

sys.exit(main())
