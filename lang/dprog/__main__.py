"""`python -m dprog` is the `dp` command."""

import sys

from .tools.cli import main

sys.exit(main())
