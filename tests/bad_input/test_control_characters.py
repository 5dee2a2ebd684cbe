"""Finding 6: a NUL (which PostgreSQL refuses in text) or any other control
character in a path segment or a query value is a 400 before any view or the
database sees it: the 400 page for pages, ``{"detail": ...}`` for the API."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.bad_input.conftest import World

# Pages and API endpoints whose path segment is text a view looks up.
PAGE_PATHS = [
    "/tracking/sources/ri%00sk/",
    "/tracking/models/1/versions/1%00/",
    "/compliance/policies/default%00/",
]
API_PATHS = [
    "/api/v1/sources/ri%00sk",
    "/api/v1/runs/abc%00def",
    "/api/v1/runs/abc%00def/assessments",
    "/api/v1/policies/default%00",
]
# Query values that reach a filter (q, tag, classification, source...).
PAGE_QUERIES = [
    "/tracking/runs/?q=a%00b",
    "/tracking/runs/?tag=team%3Dri%00sk",
    "/tracking/runs/?classification=%00",
    "/tracking/experiments/?q=%00",
    "/tracking/models/?alias=%00",
    "/compliance/?department=%00",
    "/compliance/runs/?failed_rule=%00",
    "/audit/?actor=%00",
    "/audit/export.csv?action=%00",
]
API_QUERIES = [
    "/api/v1/runs?q=a%00b",
    "/api/v1/runs?tag=team%3D%00",
    "/api/v1/experiments?q=%00",
    "/api/v1/models?q=%00",
    "/api/v1/runs/abc?source=%00",
    "/api/v1/compliance/summary?department=%00",
]
MESSAGE = "A control character (such as NUL) is not allowed in"


@pytest.mark.parametrize("url", PAGE_PATHS + PAGE_QUERIES)
def test_a_nul_on_a_page_is_the_400_page(world: World, url: str) -> None:
    response = world.client.get(url)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert MESSAGE in response.content.decode()


@pytest.mark.parametrize("url", API_PATHS + API_QUERIES)
def test_a_nul_in_the_api_is_a_json_400(world: World, url: str) -> None:
    response = world.client.get(url)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"].startswith(MESSAGE)


def test_the_answer_names_where_the_character_was(world: World) -> None:
    by_path = world.client.get("/api/v1/sources/a%00").json()["detail"]
    by_query = world.client.get("/api/v1/runs?q=%00").json()["detail"]
    assert by_path == f"{MESSAGE} the address."
    assert by_query == f"{MESSAGE} parameter 'q'."


@pytest.mark.parametrize("character", ["%00", "%0A", "%09", "%1B", "%7F", "%C2%85"])
def test_other_control_characters_are_refused_too(world: World, character: str) -> None:
    assert world.client.get(f"/tracking/runs/?q=a{character}").status_code == 400
    assert world.client.get(f"/api/v1/runs?{character}=1").status_code == 400


def test_text_that_is_not_a_control_character_is_served(world: World) -> None:
    """Accents, other scripts, emoji and spaces are ordinary filter text."""
    for text in ("é", "数据", "🙂", "a b", "\u200b"):
        assert world.client.get("/tracking/runs/", {"q": text}).status_code == 200
        assert world.client.get("/api/v1/runs", {"q": text}).status_code == 200


def test_a_nul_is_refused_before_the_login_redirect(db: None) -> None:
    """Nothing is looked up for an anonymous caller either (no session read)."""
    anonymous = Client()
    page = anonymous.get("/tracking/runs/?q=%00")
    assert page.status_code == 400
    assert MESSAGE in page.content.decode()
    api = anonymous.get("/api/v1/runs?q=%00")
    assert api.status_code == 400
    assert api.json()["detail"].startswith(MESSAGE)
