"""Running code in a fresh interpreter, for tests of what importing does."""

from __future__ import annotations

import subprocess
import sys


def printed(code: str) -> list[str]:
    """The lines ``code`` prints, run by a new Python process (so that no
    module this test process imported is loaded there)."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.splitlines()
