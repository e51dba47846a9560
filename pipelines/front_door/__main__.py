"""`python -m fullchain`: the `fullchain` command."""

import sys

from fullchain.cli import main

# Beam's and torch's worker processes may re-import the main module: only a direct run starts a command.
if __name__ == "__main__":
    sys.exit(main())
