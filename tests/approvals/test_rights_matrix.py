"""Every role x every action x one's own or someone else's request, through the
API: carried out exactly when the table below says so, refused (403) otherwise.

The table is the specification (docs/approvals.md, docs/operations.md "Roles"):
rights come from the roles, and the workflow's rules (the requester never
approves; only the requester withdraws) bind superusers too.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from approvals.models import Environment, PromotionRequest, Stage
from approvals.services import promotion_request

pytestmark = pytest.mark.django_db

SUBJECTS = ["ml-engineer", "reviewer", "compliance-officer", "auditor", "admin", "superuser"]
REVIEWING = {"reviewer", "compliance-officer", "admin"}
EVERYONE = set(SUBJECTS)

# (action, whose request) -> who may.
MAY: dict[tuple[str, str], set[str]] = {
    ("request", "-"): {"ml-engineer", "admin", "superuser"},
    ("approve", "own"): set(),  # the requester never approves
    ("approve", "other"): REVIEWING,  # the stage names these roles; a bare superuser holds none
    ("reject", "own"): set(),
    ("reject", "other"): REVIEWING,
    ("withdraw", "own"): {"ml-engineer", "admin", "superuser"},
    ("withdraw", "other"): set(),  # only the requester
    ("retry", "own"): {"admin", "superuser"},
    ("retry", "other"): {"admin", "superuser"},
    ("comment", "own"): EVERYONE,
    ("comment", "other"): EVERYONE,
}

CASES = [
    pytest.param(subject, action, whose, id=f"{subject}-{action}-{whose}")
    for (action, whose) in MAY
    for subject in SUBJECTS
]


@pytest.fixture
def matrix(world):  # type: ignore[no-untyped-def]
    environment = Environment.objects.create(
        name="matrix", alias="matrix", allowed_classifications=["public", "official"]
    )
    Stage.objects.create(
        environment=environment, name="Any reviewer", roles=sorted(REVIEWING), required=1
    )
    world.new_version("2")
    world.new_version("3")
    ask = {"actor": world.engineer, "source": world.source.name, "model": world.model.name}
    open_request = promotion_request(
        **ask, version="2", environment="matrix", justification="open one"
    )
    failed = promotion_request(**ask, version="3", environment="matrix", justification="failed")
    PromotionRequest.objects.filter(pk=failed.pk).update(status="approved", promotion="failed")
    return world, open_request, failed


def _subject(make_user, name: str) -> User:
    if name == "superuser":
        user = make_user("subject")
        user.is_superuser = True
        user.save()
        return user
    return make_user("subject", name)


@pytest.mark.parametrize(("subject", "action", "whose"), CASES)
def test_the_matrix(client, make_user, matrix, subject, action, whose):
    world, open_request, failed = matrix
    user = _subject(make_user, subject)
    target = failed if action == "retry" else open_request
    if whose == "own":
        PromotionRequest.objects.filter(pk=target.pk).update(requested_by=user)
    client.force_login(user)
    base = f"/api/v1/promotions/{target.pk}"
    if action == "request":
        body = {
            "source": world.source.name,
            "model": world.model.name,
            "version": "1",
            "environment": "matrix",
            "justification": "matrix",
        }
        url, ok = "/api/v1/promotions", 201
    elif action == "comment":
        url, body, ok = f"{base}/comments", {"body": "a question"}, 201
    else:
        url, body, ok = f"{base}/{action}", {"comment": "because"}, 200
    response = client.post(url, body, content_type="application/json")
    expected = ok if subject in MAY[(action, whose)] else 403
    assert response.status_code == expected, (subject, action, whose, response.content[:300])
    if expected == 403:
        target.refresh_from_db()
        assert (target.status, target.promotion) == (
            ("open", "none") if action != "retry" else ("approved", "failed")
        )
        assert target.votes.count() == 0
