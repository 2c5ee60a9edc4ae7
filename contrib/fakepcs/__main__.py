"""Entry point for ``python contrib/fakepcs`` and ``python -m fakepcs``.

Run as a folder script, sys.path[0] is this folder; we replace it with the
parent so that the package imports as ``fakepcs`` and none of our module names
can shadow the standard library.
"""

from __future__ import annotations

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == _here:
    sys.path[0] = os.path.dirname(_here)
elif os.path.dirname(_here) not in sys.path:
    sys.path.insert(0, os.path.dirname(_here))

from fakepcs.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
