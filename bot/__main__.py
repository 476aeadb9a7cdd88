"""``python -m bot``: the ``canarybot`` command, for where the console script is not on PATH."""

import sys

from bot.cli import main

sys.exit(main())
