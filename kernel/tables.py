"""How every django-tables2 table of the pages is sorted and paged from the request.

Views call ``configure_table(request, table, per_page=...)``, never
``RequestConfig`` directly, so the page's parameters are read and bounded in
one place:

* ``page`` and ``per_page`` (with the table's prefix, e.g. ``v-page``) are whole
  numbers written in ASCII digits; ``per_page`` is at most ``MAX_ROWS_PER_PAGE``
  (500, the API's bound too), ``page`` at most ``MAX_PAGE``. Anything else is
  refused with ``BadParameter`` (a 400 page naming the parameter), never
  guessed at and never a 500.
* An empty value means "not given": the view's default.
* A page number past the last page shows the last page (a link made before a
  filter or a deletion narrowed the rows still lands somewhere useful).
* A sort on a column the table does not have is ignored (django-tables2's rule).

Tables of lists that grow to millions of rows (runs, and runs with their
assessments) call ``configure_keyset_table(request, table, keysets=...,
default=..., per_page=...)`` instead: they page by keyset (``kernel.keyset``),
so the first page, a page deep in the list and the last page each cost one
index range scan of ``per_page + 1`` rows, with no OFFSET and no COUNT:

* ``cursor`` (with the table's prefix) is absent (the first page), ``last``
  (the last page: the same index read backwards), or an opaque cursor the
  table handed out in its Next or Previous link: signed, bound to the table's
  prefix and sort, and checked again by ``Keyset.decode``. Any other value is
  refused with ``BadParameter`` (400), never a 500.
* Only the keyset orders sort: ``-column`` is the keyset's own order (each
  column descending), ``column`` the same index read backwards; the table's
  other columns are not sortable there. Another ``sort`` shows the default.
* ``per_page`` is bounded as above; ``page`` is still checked, and otherwise
  ignored (a link from before shows the first page).
* The pager (``templates/includes/keyset_pager.html``) links First, Previous,
  Next and Last, and shows no total: counting a million rows would cost what
  the keyset saves. ``table.paginator.count`` still counts, when asked.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from django.core import signing
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import date as date_filter
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django_tables2 import RequestConfig, Table
from django_tables2.rows import BoundRows

from kernel.http import MAX_ROWS_PER_PAGE, BadParameter, parameter_name
from kernel.keyset import BadCursor, Keyset

MAX_PAGE = 1_000_000_000

_DIGITS = re.compile(r"[0-9]{1,10}")

T = TypeVar("T", bound=Table)


def _whole_number(request: HttpRequest, name: str, *, most: int) -> None:
    """Refuse the parameter unless each value is empty or a whole number 1..most."""
    for value in request.GET.getlist(name):
        if value == "":
            continue
        if not (_DIGITS.fullmatch(value) and 1 <= int(value) <= most):
            raise BadParameter(
                f"The parameter {parameter_name(name)} must be a whole number from 1 to {most:,}."
            )


def configure_table(request: HttpRequest, table: T, *, per_page: int) -> T:
    """Sort and page ``table`` from the request (``per_page`` rows unless asked),
    or raise ``BadParameter`` for a malformed or out-of-range page parameter."""
    assert 1 <= per_page <= MAX_ROWS_PER_PAGE
    _whole_number(request, table.prefixed_per_page_field, most=MAX_ROWS_PER_PAGE)
    _whole_number(request, table.prefixed_page_field, most=MAX_PAGE)
    # Each value is now empty or in range, so RequestConfig reads what was checked
    # (empty: the default; a page past the last: the last page).
    RequestConfig(request, paginate={"per_page": per_page}).configure(table)
    return table


# --------------------------------------------------------------------------- keyset tables

LAST = "last"
_NEXT, _PREVIOUS = "n", "p"


@dataclass
class KeysetPaginator:
    """What a keyset table's template and tests ask of ``table.paginator``."""

    queryset: QuerySet[Any]
    per_page: int

    @cached_property
    def count(self) -> int:
        """The exact number of rows: a COUNT over every match, so never on the page."""
        return self.queryset.count()


@dataclass
class KeysetPage:
    """One page of a keyset table (``table.page``): its rows and the cursors of
    the pages next to it. ``has_previous``/``has_next`` are methods, as on
    Django's ``Page``."""

    object_list: BoundRows
    cursor_field: str
    first: bool
    last: bool
    previous_cursor: str = ""
    next_cursor: str = ""
    is_keyset = True
    last_cursor = LAST

    def has_previous(self) -> bool:
        return not self.first

    def has_next(self) -> bool:
        return not self.last

    def has_other_pages(self) -> bool:
        return not (self.first and self.last)

    def __len__(self) -> int:
        return len(self.object_list)


def _signer(table: Table, order: str) -> signing.Signer:
    # A cursor names a place in one order of one table: another sort, or the
    # other table of a page, does not take it.
    return signing.Signer(salt=f"kernel.tables.keyset:{table.prefix}:{order}")


def configure_keyset_table(
    request: HttpRequest,
    table: T,
    *,
    keysets: Mapping[str, Keyset],
    default: str,
    per_page: int,
) -> T:
    """Sort ``table`` by one of ``keysets`` (column name -> its ``Keyset``) and
    page it by cursor, ``per_page`` rows unless asked; or raise ``BadParameter``
    for a malformed page size or cursor. ``default`` is the order without a
    (known) ``sort``: ``"-column"`` or ``"column"``. The table's data must be a
    queryset."""
    assert 1 <= per_page <= MAX_ROWS_PER_PAGE
    assert default.lstrip("-") in keysets
    _whole_number(request, table.prefixed_per_page_field, most=MAX_ROWS_PER_PAGE)
    _whole_number(request, table.prefixed_page_field, most=MAX_PAGE)
    size = int(request.GET.get(table.prefixed_per_page_field) or per_page)

    for bound in table.columns:
        if bound.name not in keysets:
            bound.column.orderable = False
    order = request.GET.get(table.prefixed_order_by_field) or ""
    if order.lstrip("-") not in keysets:
        order = default
    table.order_by = order
    keyset = keysets[order.lstrip("-")]
    # "-column" is the keyset's own order; "column" reads the same index backwards.
    reverse = not order.startswith("-")
    queryset = table.data.data
    assert isinstance(queryset, QuerySet), "a keyset table pages a queryset"

    cursor_field = f"{table.prefix}cursor"
    signer = _signer(table, order)
    cursor = request.GET.get(cursor_field) or ""
    kind, values = "", None
    if cursor and cursor != LAST:
        try:
            text = signer.unsign(cursor)
            kind, inner = text[:1], text[1:]
            if kind not in (_NEXT, _PREVIOUS):
                raise BadCursor(text)
            values = keyset.decode(inner)
        except (signing.BadSignature, BadCursor):
            raise BadParameter(
                f"The parameter {parameter_name(cursor_field)} is not a cursor this table "
                "handed out (or the table is sorted another way now): start again from "
                "the first page."
            ) from None

    # Reading towards the end of the table is reading the keyset forwards,
    # unless the table shows the keyset's order reversed.
    if cursor == LAST:
        rows, more = keyset.page(queryset, size, from_end=not reverse)
        first, last = not more, True
    elif kind == _NEXT:
        if reverse:
            rows, more = keyset.page(queryset, size, before=values)
        else:
            rows, more = keyset.page(queryset, size, after=values)
        first, last = False, not more
    elif kind == _PREVIOUS:
        if reverse:
            rows, more = keyset.page(queryset, size, after=values)
        else:
            rows, more = keyset.page(queryset, size, before=values)
        first, last = not more, False
    else:
        rows, more = keyset.page(queryset, size, from_end=reverse)
        first, last = True, not more
    if reverse:
        # keyset.page answers in keyset order; the table shows it reversed.
        rows.reverse()

    def link(kind: str, row: Any) -> str:
        return signer.sign(kind + keyset.cursor(row))

    table.page = KeysetPage(
        object_list=BoundRows(data=rows, table=table),
        cursor_field=cursor_field,
        first=first,
        last=last,
        previous_cursor=link(_PREVIOUS, rows[0]) if rows and not first else "",
        next_cursor=link(_NEXT, rows[-1]) if rows and not last else "",
    )
    table.paginator = KeysetPaginator(queryset=queryset, per_page=size)
    return table


# --------------------------------------------------------------------------- plain rows


class PlainRowsTable(Table):  # type: ignore[misc]  # django-tables2 has no type hints
    """A table whose body rows are rendered by plain Python, for the lists that
    are read all day (runs, runs with their verdicts).

    django-tables2 renders each cell through its accessor, its ``render_*``
    method (found again for every cell by signature inspection) and the
    column's attributes: on a 50-row runs page that was three quarters of the
    page's time (docs/architecture.md, `kernel/tables.py`). A subclass defines
    ``cell_<column>(record) -> str`` for each of its columns, returning escaped
    HTML (``format_html``, or ``text``/``datetime_text`` below); the header,
    sorting, paging and the choice of columns stay django-tables2's, the row
    attributes (``Meta.row_attrs``, odd/even) too, and ``includes/table.html``
    prints ``plain_rows``.
    """

    renders_plain_rows = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A column without its cell function fails when the class is defined, not
        # as a 500 on the first page that shows it.
        super().__init_subclass__(**kwargs)
        missing = [name for name in cls.base_columns if not hasattr(cls, f"cell_{name}")]
        if missing:
            raise TypeError(
                f"{cls.__name__} renders its rows by cell_* functions: define "
                + ", ".join(f"cell_{name}" for name in missing)
            )

    def plain_rows(self) -> list[SafeString]:
        cells = [
            (getattr(self, f"cell_{column.name}"), column.attrs["td"].as_html())
            for column in self.columns
        ]
        rows = []
        for row in self.paginated_rows:
            record = row.record
            tds = "".join(f"<td {attrs}>{cell(record)}</td>" for cell, attrs in cells)
            # Each cell is escaped by its cell_* function; the attributes by django-tables2.
            rows.append(mark_safe(f"<tr {row.attrs.as_html()}>{tds}</tr>"))  # noqa: S308
        return rows


EMPTY = "—"
# How the tables print a date and time (UTC, to the minute).
DATETIME = "Y-m-d H:i"


def text(value: str | None) -> str:
    """A cell's escaped text, or a dash when the value is empty (None or "")."""
    if value is None or value == "":
        return EMPTY
    return str(conditional_escape(value))


def datetime_text(value: dt.datetime | None, format: str) -> str:
    """A date and time in the current time zone, as the ``date`` filter prints it."""
    if value is None:
        return EMPTY
    return str(conditional_escape(date_filter(value, format)))
