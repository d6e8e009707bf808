"""Allow ``python -m daemon``."""

import sys

from daemon.cli import main

sys.exit(main())
