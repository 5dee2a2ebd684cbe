"""Finding 6 and 8 on the pages: every table page reads ``page`` and ``per_page``
through kernel.tables, so a malformed or out-of-range value is a 400 naming the
parameter (never a 500), and no page shows more than 500 rows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.core import signing

from kernel.http import MAX_ROWS_PER_PAGE
from kernel.tables import MAX_PAGE
from tests.bad_input.conftest import TABLE_PAGES, TablePage, World

ROOT = Path(__file__).resolve().parents[2]

# (parameter, value): each is refused with a 400.
REFUSED = [
    ("per_page", "-5"),  # was a 500: EmptyPage raised while recovering from EmptyPage
    ("per_page", "0"),
    ("per_page", "100000"),  # was every row in one page
    ("per_page", str(MAX_ROWS_PER_PAGE + 1)),
    ("per_page", "abc"),
    ("per_page", "1_0"),  # int() reads these; the page does not
    ("per_page", "\u0665"),  # ARABIC-INDIC DIGIT FIVE
    ("page", "abc"),  # was silently page 1
    ("page", "-1"),
    ("page", "0"),
    ("page", "99999999999999999999"),
]


@pytest.mark.parametrize("page_name", TABLE_PAGES)
def test_a_bad_page_parameter_is_a_400_naming_it(world: World, page_name: str) -> None:
    page = world.table_page(page_name)
    answers = {}
    for parameter, value in REFUSED:
        name = page.prefix + parameter
        response = world.client.get(page.url, {name: value})
        text = response.content.decode()
        bound = MAX_ROWS_PER_PAGE if parameter == "per_page" else MAX_PAGE
        message = f"The parameter &#x27;{name}&#x27; must be a whole number from 1 to {bound:,}."
        answers[(name, value)] = (response.status_code, message in text)
    assert answers == {(page.prefix + p, v): (400, True) for p, v in REFUSED}


@pytest.mark.parametrize("page_name", TABLE_PAGES)
def test_page_sizes_up_to_the_cap_are_honoured(world: World, page_name: str) -> None:
    page = world.table_page(page_name)
    for per_page in (1, MAX_ROWS_PER_PAGE):
        response = world.client.get(page.url, {page.prefix + "per_page": str(per_page)})
        assert response.status_code == 200, (page_name, per_page)
        table = response.context[page.table]
        assert table.paginator.per_page == per_page
        assert len(table.page.object_list) <= per_page


@pytest.mark.parametrize("page_name", TABLE_PAGES)
def test_a_page_past_the_last_shows_the_last_page(world: World, page_name: str) -> None:
    page = world.table_page(page_name)
    # A keyset table has no page numbers (a stale one shows the first page): its last
    # page is asked for by name.
    last = {page.prefix + "cursor": "last"} if page.keyset else {page.prefix + "page": "1000000"}
    response = world.client.get(page.url, {page.prefix + "per_page": "1", **last})
    assert response.status_code == 200
    table = response.context[page.table]
    assert not table.page.has_next()
    if page.keyset:
        assert table.page.has_previous()
    else:
        assert table.page.number == table.paginator.num_pages


@pytest.mark.parametrize("page_name", TABLE_PAGES)
def test_an_empty_value_means_the_default(world: World, page_name: str) -> None:
    page = world.table_page(page_name)
    response = world.client.get(page.url, {page.prefix + "per_page": "", page.prefix + "page": ""})
    assert response.status_code == 200
    assert not response.context[page.table].page.has_previous()


def test_every_value_of_a_repeated_parameter_is_checked(world: World) -> None:
    page = world.table_page("tracking runs")
    assert world.client.get(page.url + "?per_page=-5&per_page=10").status_code == 400


def test_no_view_configures_a_table_but_through_the_kernel() -> None:
    """RequestConfig (which reads page and per_page unchecked) is used in
    kernel/tables.py only, so every table page gets the same bounds."""
    offenders = []
    for package in ("audit", "tracking", "reports", "approvals", "govdash"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = (
                    [alias.name for alias in node.names]
                    if isinstance(node, ast.ImportFrom | ast.Import)
                    else [node.attr]
                    if isinstance(node, ast.Attribute)
                    else []
                )
                if "RequestConfig" in names:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


KEYSET_PAGES = [name for name in TABLE_PAGES if name.endswith("runs")]


def _cursors(world: World, page: TablePage) -> tuple[str, str]:
    """The Next cursor of the first page, newest first and oldest first."""
    found = []
    for sort in ("-start_time", "start_time"):
        response = world.client.get(page.url, {page.prefix + "per_page": "1", "sort": sort})
        found.append(response.context[page.table].page.next_cursor)
    assert all(found)
    return found[0], found[1]


@pytest.mark.parametrize("page_name", KEYSET_PAGES)
def test_a_cursor_the_table_did_not_hand_out_is_a_400(world: World, page_name: str) -> None:
    page = world.table_page(page_name)
    assert page.keyset
    newest, oldest = _cursors(world, page)
    value, signature = newest.rsplit(":", 1)
    # Signed by this table, but not a cursor of its keyset: still refused.
    signed_garbage = signing.Signer(salt=f"kernel.tables.keyset:{page.prefix}:-start_time").sign(
        "nW1tdXQ"
    )
    refused = [
        "abc",
        "next",
        "LAST",
        "x" * 5000,
        value,  # no signature
        value + ":" + signature[:-2] + "AA",  # a forged signature
        value.replace("n", "p", 1) + ":" + signature,  # the direction changed
        signed_garbage,
    ]
    answers = {}
    for cursor in refused:
        response = world.client.get(page.url, {page.prefix + "cursor": cursor})
        answers[cursor[:40]] = (
            response.status_code,
            "is not a cursor this table handed out" in response.content.decode(),
        )
    assert answers == {cursor[:40]: (400, True) for cursor in refused}
    # A cursor of one order is not taken by the other.
    response = world.client.get(page.url, {page.prefix + "cursor": oldest})
    assert response.status_code == 400
    response = world.client.get(page.url, {page.prefix + "cursor": newest, "sort": "start_time"})
    assert response.status_code == 400
    # ... and each is taken by its own.
    assert world.client.get(page.url, {page.prefix + "cursor": newest}).status_code == 200
    ok = world.client.get(page.url, {page.prefix + "cursor": oldest, "sort": "start_time"})
    assert ok.status_code == 200
