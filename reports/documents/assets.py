"""The packaged assets of reports (stylesheet) and the URLs that name them.

Kept apart from ``fetcher`` so that building a report's HTML does not import
WeasyPrint: only the renderer (in its child process) does.
"""

from __future__ import annotations

from pathlib import Path

ASSET_DIR = Path(__file__).resolve().parent / "assets"
SCHEME = "govdash-asset:"


def asset_url(name: str) -> str:
    return SCHEME + name
