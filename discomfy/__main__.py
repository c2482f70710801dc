"""Lets `python -m discomfy COMMAND ...` run the command-line tools."""

from __future__ import annotations

import sys

from discomfy.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
