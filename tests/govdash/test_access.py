"""Deny by default: walk the whole URLconf as an anonymous user."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

pytestmark = pytest.mark.django_db

# Every page that an anonymous user may see. Anything else must send them to
# the login page (or answer 401 in the JSON API).
ALLOW_ANONYMOUS = {"/accounts/login/", "/healthz"}
# The Django admin sends anonymous users to its own login URL, which forwards
# to the one login page (with its lockout and audit).
ADMIN_LOGIN = "/admin/login/"

_SAMPLE = {
    "int": "1",
    "str": "sample",
    "slug": "sample",
    "uuid": "00000000-0000-0000-0000-000000000001",
    "path": "sample/x",
}


def _concrete(route: str) -> str:
    """Turn a route such as ``tokens/<int:pk>/revoke`` into a real path."""
    # Regex routes (the admin uses a few): fill named groups, drop anchors.
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "sample", route)
    route = route.replace("^", "").replace("$", "").replace("\\Z", "")
    return re.sub(r"<(?:(\w+):)?\w+>", lambda m: _SAMPLE.get(m.group(1) or "str", "sample"), route)


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        route = prefix + _concrete(str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        else:
            yield "/" + route


def all_paths() -> list[str]:
    return sorted(set(_walk(get_resolver().url_patterns)))


def test_url_walk_finds_the_pages_it_must_cover():
    paths = all_paths()
    for expected in ("/", "/audit/", "/accounts/tokens/", "/api/v1/me", "/api/v1/openapi.json"):
        assert expected in paths


@pytest.mark.parametrize("path", all_paths())
def test_anonymous_user_is_sent_to_login_or_refused(client: Client, path: str):
    response = client.get(path)
    if response.status_code == 405:
        method = response.headers.get("Allow", "POST").split(",")[0].strip().lower()
        response = getattr(client, method)(path)
    if path in ALLOW_ANONYMOUS:
        assert response.status_code in (200, 503)
        return
    if path.startswith("/api/"):
        assert response.status_code == 401, (path, response.status_code)
        return
    assert response.status_code == 302, (path, response.status_code)
    location = response.headers["Location"]
    if path.startswith("/admin/") and location.startswith(ADMIN_LOGIN):
        location = client.get(location).headers["Location"]
    assert location.startswith(reverse(settings.LOGIN_URL)), (path, location)
