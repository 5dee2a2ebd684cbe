"""The runs API pages by cursor (kernel.keyset): every run exactly once, whatever is
added while a client walks the list; a deep page costs what page 1 does (no OFFSET);
a cursor the list did not hand out is a 422, never a 500."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests import factories
from tracking.models import Run

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def reader(client: Client, make_user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(make_user("ana", "ml-engineer"))
    return client


def _page(reader: Client, **params: object) -> dict:  # type: ignore[type-arg]
    response = reader.get("/api/v1/runs", params)
    assert response.status_code == 200, response.content[:500]
    return response.json()


def _runs(experiment, count: int, **fields: object) -> list[Run]:  # type: ignore[no-untyped-def]
    return [factories.run(experiment, **fields) for _ in range(count)]


def _start(hours: float) -> dt.datetime:
    return T0 - dt.timedelta(hours=hours)


def test_the_cursor_walks_every_run_exactly_once_while_runs_are_added(reader: Client):
    experiment = factories.experiment()
    original = [
        *_runs(experiment, 3, start_time=None),  # no start time: first (NULLs first)
        *[factories.run(experiment, start_time=_start(hours)) for hours in range(10)],
        *_runs(experiment, 4, start_time=_start(3)),  # four more sharing one start time
        *_runs(experiment, 4, start_time=_start(20)),
    ]
    seen: list[str] = []
    added_ahead: list[str] = []
    page = _page(reader, limit=4)
    pages = 0
    while True:
        pages += 1
        seen += [item["run_id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        last = Run.objects.get(run_id=seen[-1])
        # Between two pages: runs that sort before the cursor (newer, no start time,
        # the same start time as the last row read: a newer id sorts first) ...
        factories.run(experiment, start_time=T0 + dt.timedelta(hours=1))
        factories.run(experiment, start_time=None)
        if last.start_time is not None:
            factories.run(experiment, start_time=last.start_time)
            # ... and one after it, which the walk must still reach, once.
            added_ahead.append(
                factories.run(
                    experiment, start_time=last.start_time - dt.timedelta(minutes=1)
                ).run_id
            )
        page = _page(reader, limit=4, cursor=page["next_cursor"])
    assert pages > 5
    assert len(seen) == len(set(seen)), "a run was answered twice"
    assert {run.run_id for run in original} <= set(seen), "a run was skipped"
    assert set(added_ahead) <= set(seen)


def test_offset_paging_under_the_same_inserts_answers_a_run_twice(reader: Client):
    # Why the cursor: an offset counts rows, and a row added in front shifts every page.
    experiment = factories.experiment()
    for hours in range(8):
        factories.run(experiment, start_time=_start(hours))
    first = _page(reader, limit=4)
    factories.run(experiment, start_time=T0 + dt.timedelta(hours=1))
    by_offset = _page(reader, limit=4, offset=first["next_offset"])
    by_cursor = _page(reader, limit=4, cursor=first["next_cursor"])
    ids = [item["run_id"] for item in first["items"]]
    assert {item["run_id"] for item in by_offset["items"]} & set(ids)
    assert not {item["run_id"] for item in by_cursor["items"]} & set(ids)


def test_the_page_shape_keeps_offset_fields_and_adds_next_cursor(reader: Client):
    experiment = factories.experiment()
    _runs(experiment, 5)
    page = _page(reader, limit=2)
    assert set(page) == {"items", "count", "limit", "offset", "next_offset", "next_cursor"}
    assert (page["count"], page["limit"], page["offset"], page["next_offset"]) == (5, 2, 0, 2)
    following = _page(reader, limit=2, cursor=page["next_cursor"])
    assert following["next_offset"] is None
    assert following["count"] == 5
    last = _page(reader, limit=2, offset=4)
    assert last["next_cursor"] is None
    assert last["next_offset"] is None


def test_a_page_by_cursor_skips_no_rows_in_the_database(reader: Client):
    experiment = factories.experiment()
    _runs(experiment, 6)
    cursor = _page(reader, limit=2)["next_cursor"]
    with CaptureQueriesContext(connection) as queries:
        _page(reader, limit=2, cursor=cursor)
    selects = [q["sql"] for q in queries.captured_queries if "tracking_run" in q["sql"]]
    assert selects
    assert not any("OFFSET" in sql.upper() for sql in selects)


def _encoded(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 !!",
        "%%%",
        "x" * 600,
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _encoded({"start_time": None}),
        _encoded([None]),
        _encoded([None, 1, 2]),
        _encoded(["2025-01-01T00:00:00+00:00", "7"]),
        _encoded(["2025-01-01T00:00:00+00:00", True]),
        _encoded(["2025-01-01T00:00:00+00:00", 2**70]),
        _encoded(["2025-01-01T00:00:00", 7]),  # no time zone
        _encoded(["yesterday", 7]),
        _encoded([12345, 7]),
        _encoded(["2025-01-01T00:00:00+00:00", None]),
    ],
)
def test_a_cursor_the_list_did_not_hand_out_is_a_422(reader: Client, cursor: str):
    factories.run()
    response = reader.get("/api/v1/runs", {"cursor": cursor})
    assert response.status_code == 422, response.content[:300]
    assert response["Content-Type"].startswith("application/json")


def test_a_cursor_with_an_offset_is_a_422(reader: Client):
    experiment = factories.experiment()
    _runs(experiment, 3)
    cursor = _page(reader, limit=1)["next_cursor"]
    response = reader.get("/api/v1/runs", {"cursor": cursor, "offset": 1})
    assert response.status_code == 422
