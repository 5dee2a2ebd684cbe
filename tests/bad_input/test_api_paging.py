"""Finding 6 and 8 in the API: ``offset`` is bounded like ``limit``, so an offset
past a bigint is a 422 (JSON), not an overflow in the database (an HTML 500);
and an error that escapes the API is JSON too."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from govdash.errors import bad_request, page_not_found, server_error
from kernel.api import MAX_LIMIT, MAX_OFFSET
from tests.bad_input.conftest import World

LISTS = ["/api/v1/runs", "/api/v1/experiments", "/api/v1/models"]


@pytest.mark.parametrize("url", LISTS)
def test_an_offset_beyond_bigint_is_a_422(world: World, url: str) -> None:
    for offset in ("99999999999999999999", str(2**63), str(MAX_OFFSET + 1)):
        response = world.client.get(url, {"offset": offset})
        assert response.status_code == 422, offset
        assert response["Content-Type"].startswith("application/json")
        assert [error["loc"] for error in response.json()["detail"]] == [["query", "offset"]]


@pytest.mark.parametrize("url", LISTS)
def test_the_largest_offset_answers_an_empty_page(world: World, url: str) -> None:
    response = world.client.get(url, {"offset": str(MAX_OFFSET), "limit": str(MAX_LIMIT)})
    assert response.status_code == 200
    body = response.json()
    assert body["items"] == []
    assert body["offset"] == MAX_OFFSET
    assert body["next_offset"] is None


@pytest.mark.parametrize("url", LISTS)
def test_a_limit_above_the_cap_is_a_422(world: World, url: str) -> None:
    response = world.client.get(url, {"limit": str(MAX_LIMIT + 1)})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]
    assert MAX_LIMIT == 500


def test_an_unknown_api_address_is_a_json_404(world: World) -> None:
    response = world.client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_errors_escaping_the_api_are_json() -> None:
    request = RequestFactory().get("/api/v1/runs")
    request.request_id = "abc12345"  # type: ignore[attr-defined]
    failed = server_error(request)
    assert failed.status_code == 500
    assert failed["Content-Type"] == "application/json"
    assert b"<html" not in failed.content
    assert json.loads(failed.content) == {"detail": "Server error", "request_id": "abc12345"}
    bad = bad_request(request, Exception("a header named the wrong host"))
    assert bad.status_code == 400
    assert json.loads(bad.content) == {"detail": "The request was malformed."}
    missing = page_not_found(request, Exception("Resolver404 text"))
    assert json.loads(missing.content) == {"detail": "Not Found"}
