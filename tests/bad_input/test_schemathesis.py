"""Schemathesis against the API's own /api/v1/openapi.json (issue 10, "Tests").

Every operation, called with generated parameters (valid and not) under a
fresh token of each role, answers no 5xx, only status codes and content types
its schema declares, and bodies that match the declared schema. The app is
called in-process through WSGI: no server, the test database. Bounded
(``EXAMPLES`` per operation and role) so that it stays quick in `make test`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import checks

from govdash.services import token_create
from kernel.roles import ALL_ROLES
from tests.bad_input.conftest import World

EXAMPLES = 2
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def wsgi_app() -> Iterator[Any]:
    """Django's WSGI application, minus the end-of-request closing of database
    connections (as Django's test client does), which would close the test
    database's connection under the test."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(role_user: Any, wsgi_app: Any) -> Any:
    """The schema as the API serves it (to a signed-in caller), read through WSGI
    like every call below."""
    _, secret = token_create(user=role_user, name="schema", created_by=role_user)
    return schemathesis.openapi.from_wsgi(
        "/api/v1/openapi.json", wsgi_app, headers={"Authorization": f"Bearer {secret}"}
    )


@pytest.fixture(params=sorted(ALL_ROLES))
def role_user(request: pytest.FixtureRequest, world: World, make_user) -> Any:  # type: ignore[no-untyped-def]
    return make_user(f"st-{request.param}", request.param)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_schema(case: Any, role_user: Any) -> None:
    user = role_user
    # A fresh token each call: DELETE /tokens/current revokes the one it is given.
    _, secret = token_create(user=user, name="schemathesis", created_by=user)
    case.call_and_validate(headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS)
