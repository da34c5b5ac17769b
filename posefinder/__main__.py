"""`python -m posefinder` runs the command line."""

import sys

from posefinder.app.cli import main

sys.exit(main())
