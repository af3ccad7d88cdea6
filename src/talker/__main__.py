"""`python -m talker`."""

import sys

from talker.cli import main

sys.exit(main())
