"""Every CSV govdash writes goes through here, so no cell can run as a formula.

Synced MLflow text and audited usernames are attacker-controlled: a cell that a
spreadsheet would evaluate (``=``, ``+``, ``-``, ``@``, a tab or carriage
return, after any leading whitespace, and the full-width forms of those
signs) is prefixed with ``'`` so that it shows as text.
"""

from __future__ import annotations

import csv as _csv
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

_TRIGGERS = frozenset("=+-@\t\r\n")


def _leading(value: str) -> str:
    stripped = value.lstrip(" \u00a0\u3000\ufeff\u200b")
    if not stripped:
        return ""
    # NFKC folds the full-width signs (U+FF1D, U+FF0B, U+FF0D, U+FF20) onto ASCII.
    return unicodedata.normalize("NFKC", stripped[0])[:1]


def safe_cell(value: Any) -> Any:
    """The value, made inert if a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value and (value[0] in _TRIGGERS or _leading(value) in _TRIGGERS):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, batch: int = 1
) -> Iterator[str]:
    """The header then the rows as CSV text, every cell made safe; for streaming.
    With ``batch`` > 1, rows come out joined ``batch`` at a time (fewer, larger
    writes for long exports)."""
    writer = _csv.writer(_Echo())
    yield writer.writerow(header)
    pending: list[str] = []
    for row in rows:
        pending.append(writer.writerow([safe_cell(cell) for cell in row]))
        if len(pending) >= batch:
            yield "".join(pending)
            pending = []
    if pending:
        yield "".join(pending)
