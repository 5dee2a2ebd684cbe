"""The runs table at 100,000 runs: the same, small number of queries on every page."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from tracking.models import Experiment, Run, Source
from tracking.services import source_create

pytestmark = pytest.mark.django_db

TOTAL = 100_000
SEED = 1_000
PER_PAGE = 50

# session, user, the user's and their groups' permissions (navigation), sources
# and experiments (filter choices), the page of runs (a keyset page: no COUNT);
# then the session save (savepoint, update, release).
RUNS_PAGE_QUERIES = 9


def _fill(source: Source, experiments: list[Experiment]) -> None:
    """100,000 runs in about a second.

    bulk_create alone spends ~15 s preparing 2 million field values in Python
    (SQLite also caps it at 47 rows a statement), so it writes 1,000 distinct
    runs and the database copies them 99 times with new run ids.
    """
    Run.objects.bulk_create(
        [
            Run(
                source=source,
                experiment=experiments[number % len(experiments)],
                run_id=f"{number:032x}",
                run_name=f"run {number}",
                status=("FINISHED", "FAILED", "RUNNING")[number % 3],
                classification=("official", "secret")[number % 2],
                content_hash="x",
                params={"big": "p" * 500},
                tags={"note": "t" * 500},
            )
            for number in range(SEED)
        ],
        batch_size=500,
    )
    qn = connection.ops.quote_name
    columns = [field.column for field in Run._meta.concrete_fields if not field.primary_key]
    selected = [f"{qn(c)} || %s" if c in ("run_id", "run_name") else qn(c) for c in columns]
    first, last = (
        Run.objects.filter(source=source).order_by("pk").values_list("pk", flat=True)[i]
        for i in (0, SEED - 1)
    )
    sql = (
        f"INSERT INTO {qn(Run._meta.db_table)} ({', '.join(qn(c) for c in columns)}) "
        f"SELECT {', '.join(selected)} FROM {qn(Run._meta.db_table)} "
        f"WHERE {qn('id')} BETWEEN %s AND %s"
    )
    with connection.cursor() as cursor:
        for copy in range(1, TOTAL // SEED):
            cursor.execute(sql, [f"-{copy}", f" copy {copy}", first, last])


@pytest.fixture
def hundred_thousand_runs() -> Source:
    source = source_create(name="big", url="https://mlflow.example.gov")
    experiments = [
        Experiment.objects.create(
            source=source, experiment_id=str(n), name=f"experiment {n}", content_hash="x"
        )
        for n in range(10)
    ]
    started = time.monotonic()
    _fill(source, experiments)
    assert time.monotonic() - started < 30
    assert Run.objects.count() == TOTAL
    return source


def test_runs_table_pages_issue_the_same_queries_at_100k_runs(
    client: Client, make_user, hundred_thousand_runs, django_assert_num_queries
):
    client.force_login(make_user("ana", "ml-engineer"))
    url = reverse("tracking:runs")

    with django_assert_num_queries(RUNS_PAGE_QUERIES) as first_queries:
        first = client.get(url)
    with django_assert_num_queries(RUNS_PAGE_QUERIES) as last_queries:
        deep = client.get(url, {"cursor": "last"})
    with django_assert_num_queries(RUNS_PAGE_QUERIES):
        before_last = client.get(url, {"cursor": deep.context["table"].page.previous_cursor})

    assert first.status_code == deep.status_code == before_last.status_code == 200
    assert len(first.context["table"].page.object_list) == PER_PAGE
    assert len(deep.context["table"].page.object_list) == PER_PAGE
    assert len(before_last.context["table"].page.object_list) == PER_PAGE
    assert "the last" in deep.content.decode()
    for queries in (first_queries, last_queries):
        assert not any("OFFSET" in q["sql"] or "COUNT(" in q["sql"] for q in queries)
    # The big JSON columns stay in the database.
    page_query = next(
        q["sql"]
        for q in first_queries.captured_queries
        if "LIMIT" in q["sql"] and "tracking_run" in q["sql"]
    )
    for column in ("params", "tags", "metrics"):
        assert f'"tracking_run"."{column}"' not in page_query


def test_filtered_and_sorted_pages_issue_the_same_queries_at_100k_runs(
    client: Client, make_user, hundred_thousand_runs, django_assert_num_queries
):
    client.force_login(make_user("ana", "ml-engineer"))
    url = reverse("tracking:runs")
    for query in (
        {"sort": "start_time", "cursor": "last"},
        {"sort": "-start_time", "status": "FAILED", "cursor": "last"},
        {"classification": "secret", "tag": "note", "cursor": "last"},
        {"q": "copy 7", "lifecycle": "all"},
    ):
        with django_assert_num_queries(RUNS_PAGE_QUERIES):
            response = client.get(url, query)
        assert response.status_code == 200, query
        assert response.context["table"].page.object_list, query
