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
"""

from __future__ import annotations

import re
from typing import TypeVar

from django.http import HttpRequest
from django_tables2 import RequestConfig, Table

from kernel.http import MAX_ROWS_PER_PAGE, BadParameter, parameter_name

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
