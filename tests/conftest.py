"""Test-wide set-up: nothing a test does may reach the real user's folders."""

from __future__ import annotations

import os
import tempfile

_SANDBOX = tempfile.mkdtemp(prefix="pansync-tests-")
# send2trash reads XDG_DATA_HOME once, at import: point the "system trash" into the sandbox first.
os.environ["XDG_DATA_HOME"] = os.path.join(_SANDBOX, "xdg-data")
os.environ.setdefault("PANSYNC_HOME", os.path.join(_SANDBOX, "home"))
