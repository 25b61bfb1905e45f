"""`python -m dprog` is the `dp` command."""

import sys

from .cli import main

sys.exit(main())
