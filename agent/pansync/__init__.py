"""PanSync: two-way, real-time, multi-client sync of a local folder with Baidu Netdisk or a mounted folder.

The package is cut into rooms with one job each (see DESIGN.md §1): `plan` decides, `scan` and the
`remote` backends observe, `execute` acts, `state` and `index` remember, `cli` talks to people.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0.dev0"
