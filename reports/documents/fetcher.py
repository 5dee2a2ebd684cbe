"""The only URL fetcher WeasyPrint is given: the report's own packaged assets.

Report content comes from MLflow (run names, tags, params): a crafted value
must never make the renderer read a local file or call a network address. The
templates escape every such string, so markup in it is text; this fetcher is
the second wall: whatever URL reaches it that is not one of our assets is
refused (never opened) and recorded, so a test, and the report row, can show
that nothing outside was fetched.
"""

from __future__ import annotations

import logging
import mimetypes
from typing import Any

from reports.documents.assets import ASSET_DIR, SCHEME, asset_url

# WeasyPrint logs each step and font subset at INFO: one line per page.
for _name in ("weasyprint", "weasyprint.progress", "fontTools"):
    logging.getLogger(_name).setLevel(logging.ERROR)

from weasyprint.urls import URLFetcher, URLFetcherResponse  # noqa: E402

__all__ = ["ASSET_DIR", "SCHEME", "PackagedAssetFetcher", "asset_url"]


class PackagedAssetFetcher(URLFetcher):  # type: ignore[misc]
    """Serves ``govdash-asset:NAME`` from ``reports/documents/assets``; refuses
    and records every other URL (``file:``, ``http:``, ``data:`` alike)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allowed_protocols=(), allow_redirects=False, **kwargs)
        self.refused: list[str] = []
        self.served: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        if url.startswith(SCHEME):
            name = url[len(SCHEME) :]
            path = (ASSET_DIR / name).resolve()
            if path.parent == ASSET_DIR and path.is_file():
                self.served.append(url)
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(
                    url, path.read_bytes(), headers={"Content-Type": content_type}
                )
        self.refused.append(url)
        raise ValueError(f"report renderer refused to fetch {url[:200]!r}")
