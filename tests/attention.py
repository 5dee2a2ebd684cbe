"""Reads the "needing attention" section (templates/includes/_work_attention.html)
of a page, as text, for the page tests of syncs and assessment batches."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

from audit.models import AuditEvent


def attention(html: str) -> tuple[str, list[str]]:
    """The section's heading and its items, each as one line of text."""
    start = html.index("data-work-attention")
    section = html[start : html.index("</section>", start)]
    heading = re.search(r"<h2[^>]*>(.*?)</h2>", section, re.S)
    items = re.findall(r"<li data-attention=[^>]*>(.*?)</li>", section, re.S)
    return _text(heading.group(1) if heading else ""), [_text(item) for item in items]


def _text(fragment: str) -> str:
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())
    return text.replace(" :", ":")


def minute(at: dt.datetime | None) -> str:
    """A time as the section shows it."""
    assert at is not None
    return f"{at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def recovered_at(action: str) -> str:
    """When the (only) recovery event of ``action`` was written, as shown."""
    return minute(AuditEvent.objects.get(action=action).timestamp)
