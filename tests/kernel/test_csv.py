"""kernel.csv: no cell govdash writes can run as a spreadsheet formula."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from kernel.csv import csv_lines, safe_cell

# Each value a spreadsheet would evaluate (or that starts a formula in some of them).
TRIGGERS = [
    "=1+1",
    '=HYPERLINK("http://x","click")',
    "+1",
    "-1",
    "@SUM(A1)",
    "\t=1+1",
    "\tplain after a tab",
    "\r=1+1",
    "\n=1+1",
    "  =1+1",  # leading spaces
    "\u00a0=1+1",  # no-break space
    "\u3000=1+1",  # ideographic space
    "\ufeff=1+1",  # byte-order mark
    "\u200b=1+1",  # zero-width space
    "\uff1d1+1",  # full-width =
    "\uff0b1",  # full-width +
    "\uff0d1",  # full-width -
    "\uff20SUM(A1)",  # full-width @
    "  \uff1d1+1",  # full-width after spaces
]

PLAIN = [
    "",
    "plain text",
    "a=b",
    "1+1",
    "x-1",
    "user@example.com",
    "   ",  # only spaces: nothing to evaluate
    "ünïcødé ✓",
    "'=already quoted",
]


@pytest.mark.parametrize("value", TRIGGERS, ids=repr)
def test_formula_trigger_is_made_text(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_plain_text_is_untouched(value):
    assert safe_cell(value) == value


@pytest.mark.parametrize(
    "value",
    [0, 1, -1, -2.5, 3.25, Decimal("-1.10"), None, True, dt.date(2026, 1, 2)],
    ids=repr,
)
def test_non_text_values_are_untouched(value):
    # A negative *number* is data, not a formula: it must stay a number.
    result = safe_cell(value)
    assert result is value


def _parse(lines):
    return list(csv.reader(io.StringIO("".join(lines))))


def test_csv_lines_writes_header_then_rows_with_every_cell_made_safe():
    header = ["name", "value", "count"]
    rows = [
        ["=cmd|' /C calc'!A0", "-1", -1],
        ["plain", "\uff1d1+1", 2.5],
        ["  @SUM(A1)", "ok", 0],
    ]
    assert _parse(csv_lines(header, rows)) == [
        ["name", "value", "count"],
        ["'=cmd|' /C calc'!A0", "'-1", "-1"],
        ["plain", "'\uff1d1+1", "2.5"],
        ["'  @SUM(A1)", "ok", "0"],
    ]


def test_csv_lines_streams_one_line_per_row():
    lines = list(csv_lines(["a"], iter([["x"], ["y"], ["z"]])))
    assert lines == ["a\r\n", "x\r\n", "y\r\n", "z\r\n"]


def test_csv_lines_quotes_embedded_newlines_and_quotes():
    rows = [['say "hi"\nthen =1+1', "a,b"]]
    assert _parse(csv_lines(["text", "list"], rows))[1] == ['say "hi"\nthen =1+1', "a,b"]
