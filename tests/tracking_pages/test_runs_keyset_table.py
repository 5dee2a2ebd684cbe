"""The runs tables of the pages (the mirror's runs, an experiment's, the compliance
runs) page by keyset (kernel.tables.configure_keyset_table): walking Next from the
first page or Previous from the last shows every run exactly once, the last page is
the tail of the list, and no page's query skips rows with OFFSET or counts them all;
runs with no start time and runs sharing one are placed by their id."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kernel.keyset import distinct_values
from reports.selectors.dashboard import filter_choices
from tests import factories
from tracking.models import Experiment, Run

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
PER_PAGE = 4


@pytest.fixture
def reader(client: Client, make_user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(make_user("ana", "ml-engineer"))
    return client


@pytest.fixture
def experiment() -> Experiment:
    experiment = factories.experiment()
    for _ in range(3):
        factories.run(experiment, start_time=None)  # first, newest first (NULLs first)
    for hours in range(9):
        factories.run(experiment, start_time=T0 - dt.timedelta(hours=hours))
    for _ in range(5):
        factories.run(experiment, start_time=T0 - dt.timedelta(hours=4))  # ties on the time
    factories.run(experiment, start_time=T0, lifecycle_stage="deleted")  # filtered out
    factories.run(factories.experiment(), start_time=T0)  # another experiment's
    return experiment


def _expected(experiment: Experiment | None, *, reverse: bool = False) -> list[int]:
    runs = Run.objects.visible()
    if experiment is not None:
        runs = runs.filter(experiment=experiment)
    if reverse:
        order = (F("start_time").asc(nulls_last=True), F("id").asc())
    else:
        order = (F("start_time").desc(nulls_first=True), F("id").desc())
    return list(runs.order_by(*order).values_list("pk", flat=True))


def _get(reader: Client, url: str, params: dict[str, Any]) -> tuple[list[int], Any, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = reader.get(url, {"per_page": PER_PAGE, **params})
    assert response.status_code == 200, response.content[:300]
    table = response.context["table"]
    sql = [q["sql"] for q in queries.captured_queries if '"tracking_run"' in q["sql"]]
    return [row.record.pk for row in table.paginated_rows], table.page, sql


def _walk(reader: Client, url: str, sort: str) -> tuple[list[list[int]], list[list[int]]]:
    """Pages read by Next from the first page, and by Previous from the last."""
    forward: list[list[int]] = []
    ids, page, sql = _get(reader, url, {"sort": sort})
    while True:
        forward.append(ids)
        assert sql
        assert not any("OFFSET" in s.upper() or "COUNT(" in s.upper() for s in sql), sql
        assert len(ids) == PER_PAGE or not page.has_next()
        if not page.has_next():
            break
        ids, page, sql = _get(reader, url, {"sort": sort, "cursor": page.next_cursor})
    backward: list[list[int]] = []
    ids, page, sql = _get(reader, url, {"sort": sort, "cursor": "last"})
    while True:
        backward.insert(0, ids)
        assert not any("OFFSET" in s.upper() or "COUNT(" in s.upper() for s in sql), sql
        if not page.has_previous():
            break
        ids, page, sql = _get(reader, url, {"sort": sort, "cursor": page.previous_cursor})
    return forward, backward


@pytest.mark.parametrize("sort", ["-start_time", "start_time"])
@pytest.mark.parametrize("where", ["runs", "experiment"])
def test_every_run_once_forward_and_backward_and_the_last_page_is_the_tail(
    reader: Client, experiment: Experiment, sort: str, where: str
):
    scoped = experiment if where == "experiment" else None
    url = (
        reverse("tracking:experiment", args=[experiment.pk]) if scoped else reverse("tracking:runs")
    )
    expected = _expected(scoped, reverse=sort == "start_time")
    assert len(expected) > 3 * PER_PAGE
    assert len(expected) % PER_PAGE  # a short page at one end

    forward, backward = _walk(reader, url, sort)
    assert [pk for page in forward for pk in page] == expected
    assert [pk for page in backward for pk in page] == expected
    assert backward[-1] == expected[-PER_PAGE:]  # the last page: the tail, a full page
    assert forward[0] == expected[:PER_PAGE]
    assert len(backward[0]) == len(expected) % PER_PAGE  # walking back ends on the short one


def test_the_pager_links_first_previous_next_and_last(reader: Client, experiment: Experiment):
    url = reverse("tracking:runs")
    first = reader.get(url, {"per_page": PER_PAGE}).content.decode()
    assert 'aria-label="Next page"' in first
    assert 'aria-label="Last page"' in first
    assert 'aria-label="Previous page"' not in first
    assert 'aria-label="First page"' not in first
    assert "on this page, the first" in first
    cursor = reader.get(url, {"per_page": PER_PAGE}).context["table"].page.next_cursor
    middle = reader.get(url, {"per_page": PER_PAGE, "cursor": cursor}).content.decode()
    for label in ("First page", "Previous page", "Next page", "Last page"):
        assert f'aria-label="{label}"' in middle
    last = reader.get(url, {"per_page": PER_PAGE, "cursor": "last"}).content.decode()
    assert 'aria-label="Next page"' not in last
    assert 'aria-label="First page"' in last
    assert "on this page, the last" in last
    # Sorting starts again from the first page: the sort links drop the cursor.
    assert "cursor=" not in middle.split("<tbody>")[0]


def test_a_short_list_shows_no_pager(reader: Client):
    experiment = factories.experiment()
    factories.run(experiment)
    html = reader.get(reverse("tracking:runs")).content.decode()
    assert "usa-pagination" not in html
    assert "All 1 row," in html


def test_filters_keep_working_with_the_cursor(reader: Client, experiment: Experiment):
    url = reverse("tracking:runs")
    Run.objects.filter(pk__in=_expected(None)[::2]).update(status="FAILED")
    failed = list(
        Run.objects.visible()
        .filter(status="FAILED")
        .order_by(F("start_time").desc(nulls_first=True), F("id").desc())
        .values_list("pk", flat=True)
    )
    seen: list[int] = []
    ids, page, _ = _get(reader, url, {"status": "FAILED"})
    seen += ids
    while page.has_next():
        ids, page, _ = _get(reader, url, {"status": "FAILED", "cursor": page.next_cursor})
        seen += ids
    assert seen == failed


def test_distinct_values_seek_through_the_index_and_match_select_distinct():
    # kernel.keyset.distinct_values: the compliance pages' classification choices,
    # without a SELECT DISTINCT that reads every run.
    experiment = factories.experiment()
    for value in ("secret", "", "official", "Secret ", "official", "", "top-secret", "ü"):
        factories.run(experiment, classification=value)
    with CaptureQueriesContext(connection) as queries:
        found = distinct_values(Run, "classification")
    assert set(found) == set(Run.objects.values_list("classification", flat=True))
    assert len(found) == 6
    assert not any("DISTINCT" in q["sql"].upper() for q in queries.captured_queries)
    with CaptureQueriesContext(connection) as queries:
        choices = filter_choices()
    assert sum(len(raw) for raw in choices.classifications.values()) == 6
    assert not any(
        "DISTINCT" in q["sql"].upper() and "tracking_run" in q["sql"]
        for q in queries.captured_queries
    )
