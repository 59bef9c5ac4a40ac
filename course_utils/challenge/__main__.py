"""``python -m course_utils.challenge``: the command line (see the package docstring)."""

import sys

from .cli import main

sys.exit(main())
