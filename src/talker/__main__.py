"""`python -m talker`."""

import sys

from talker.cli import main

if __name__ == "__main__":  # child processes (spawn) import this module too
    sys.exit(main())
