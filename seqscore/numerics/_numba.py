"""The one way seqscore imports a module that numba compiles.

Compiled code is optional (the extra ``seqscore[fast]``): without numba, or
with a numba that cannot run here, every caller falls back to numpy, giving
the same results within a few ulps, only slower.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

__all__ = ["load_compiled"]


def load_compiled(module: str, fallback: str, stacklevel: int) -> ModuleType | None:
    """``module`` imported, or None where numba is absent, off
    (``NUMBA_DISABLE_JIT=1`` would run it as plain Python: far slower) or
    unusable (a warning then says so and what runs instead: ``fallback``).

    ``stacklevel`` is the warning's, counted from the caller.
    """
    try:
        import numba

        # numba.config sets its options from the environment at import,
        # unseen by mypy
        if numba.config.DISABLE_JIT:  # type: ignore[attr-defined]
            return None
        return importlib.import_module(module)
    except ImportError:  # numba is not installed, or not for this numpy
        return None
    except RuntimeError as error:  # e.g. no writable place for numba's cache
        warnings.warn(
            f"seqscore: numba is installed but unusable ({error}); {fallback}",
            RuntimeWarning,
            stacklevel=stacklevel + 1,
        )
        return None
