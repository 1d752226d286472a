#!/usr/bin/env python3
"""Run seqscore from a checkout: `python cli.py ...` is `seqscore ...`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from seqscore.cli import main

if __name__ == "__main__":
    main()
