"""`python -m fullchain.deploy.openai_front --repository REPO [--triton-url host:port] [--port 9000]`."""

import sys

from fullchain.deploy.openai_front.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
