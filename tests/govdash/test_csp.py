"""Finding 10 of issue 10: a strict Content-Security-Policy on every response."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from govdash.services import token_create

pytestmark = pytest.mark.django_db

REQUIRED = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {name: (rest[0] if rest else "") for name, *rest in parts}


def _assert_strict(response) -> None:  # type: ignore[no-untyped-def]
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = _directives(header)
    for name, value in REQUIRED.items():
        assert directives.get(name) == value, (name, header)
    assert "unsafe-inline" not in header
    assert "unsafe-eval" not in header


def test_pages_carry_a_strict_policy(client: Client, make_user):
    _assert_strict(client.get("/accounts/login/"))
    client.force_login(make_user("olivia", "compliance-officer"))
    for path in ["/", "/audit/", "/compliance/", "/tracking/runs/", "/no-such-page/"]:
        response = client.get(path)
        assert response.status_code in (200, 404), path
        _assert_strict(response)


def test_admin_site_carries_the_policy(client: Client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "x" * 20)
    client.force_login(admin)
    response = client.get("/admin/auth/user/")
    assert response.status_code == 200
    _assert_strict(response)


def test_the_api_carries_the_policy(client: Client, make_user):
    ci = make_user("ci-pipeline", "ml-engineer")
    _, secret = token_create(user=ci, name="pipeline", created_by=make_user("ada", "admin"))
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    for path in ["/api/v1/me", "/api/v1/openapi.json"]:
        response = client.get(path, **bearer)
        assert response.status_code == 200, path
        _assert_strict(response)
    refused = client.get("/api/v1/me")
    assert refused.status_code == 401
    _assert_strict(refused)


TEMPLATE_DIRS = [Path(settings.BASE_DIR) / "templates"] + [
    p for p in Path(settings.BASE_DIR).glob("*/templates") if "tests" not in p.parts
]
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|javascript:", re.IGNORECASE
)


def test_no_template_carries_inline_script_or_style():
    """What the policy would refuse in a browser, found before one runs."""
    offences = []
    for directory in TEMPLATE_DIRS:
        for path in directory.rglob("*.html"):
            if "documents" in path.relative_to(directory).parts:
                continue  # PDF documents: rendered by WeasyPrint, never served as pages
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if INLINE.search(line):
                    offences.append(f"{path}:{number}: {line.strip()}")
    assert offences == []
