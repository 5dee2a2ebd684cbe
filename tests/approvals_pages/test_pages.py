"""The workflow's pages: who sees which list and button, forms that refuse bad
input without losing it, the snapshot served byte for byte. The rules behind
the buttons are the services' (tests/approvals); here a hidden button is also
checked to be refused when posted anyway."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from approvals.models import Environment, PromotionRequest, Vote
from tests import factories
from tracking.models import ModelVersion, RegisteredModel

pytestmark = pytest.mark.django_db

SNAPSHOT = '{"version":{"name":"fraud","version":"3"}}'


@pytest.fixture
def version() -> ModelVersion:
    run = factories.run(user_id="trainer.tom")
    model = RegisteredModel.objects.create(source=run.source, name="fraud<b>", content_hash="x")
    return ModelVersion.objects.create(
        model=model, version="3", run=run, mlflow_run_id=run.run_id, content_hash="y"
    )


def _open_request(version: ModelVersion, requester, environment: str = "production"):  # type: ignore[no-untyped-def]
    env = Environment.objects.get(name=environment)
    workflow = [
        {"name": stage.name, "required": stage.required, "roles": stage.roles}
        for stage in env.stages.filter(workflow="promotion").order_by("position")
    ]
    return PromotionRequest.objects.create(
        environment=env,
        version=version,
        requested_by=requester,
        justification="Better recall.",
        expires_at=timezone.now() + dt.timedelta(days=30),
        workflow=workflow,
        gates=[{"name": "security_scan", "passed": True, "detail": "security_scan is passed"}],
        snapshot=SNAPSHOT,
        snapshot_sha256=hashlib.sha256(SNAPSHOT.encode()).hexdigest(),
        facts_digest="0" * 64,
    )


def _client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_engineer_sees_the_request_action_and_a_reviewer_does_not(make_user, version):
    engineer = make_user("eve", "ml-engineer")
    reviewer = make_user("rita", "reviewer")
    url = version.get_absolute_url()
    new = reverse("approvals:new", args=[version.model_id, version.version])

    page = _client(engineer).get(url)
    assert page.status_code == 200
    assert new.encode() in page.content
    assert b"Promotions" in page.content

    page = _client(reviewer).get(url)
    assert page.status_code == 200
    assert new.encode() not in page.content
    # Hidden is not enough: the form itself is refused.
    assert _client(reviewer).get(new).status_code == 403
    assert _client(reviewer).post(new, {"environment": "staging"}).status_code == 403
    assert not PromotionRequest.objects.exists()


def test_request_form_keeps_what_was_typed_when_a_field_is_missing(make_user, version):
    engineer = make_user("eve", "ml-engineer")
    new = reverse("approvals:new", args=[version.model_id, version.version])
    page = _client(engineer).post(new, {"environment": "production", "justification": ""})
    assert page.status_code == 200
    assert b"This field is required" in page.content
    assert b'value="production" selected' in page.content
    assert not PromotionRequest.objects.exists()


def test_inbox_shows_the_open_stage_to_its_role_only(make_user, version):
    engineer = make_user("eve", "ml-engineer")
    officer = make_user("olivia", "compliance-officer")
    reviewer = make_user("rita", "reviewer")
    item = _open_request(version, engineer)
    link = item.get_absolute_url().encode()

    # Stage 1 (compliance review) is the officer's, not yet the reviewer's.
    assert link in _client(officer).get(reverse("approvals:list")).content
    assert link in _client(officer).get(reverse("home")).content
    assert link not in _client(reviewer).get(reverse("approvals:list")).content
    # The requester sees it among their own, never in an inbox.
    mine = _client(engineer).get(reverse("approvals:list") + "?tab=mine")
    assert link in mine.content


def test_request_page_escapes_model_names_and_shows_stages(make_user, version):
    engineer = make_user("eve", "ml-engineer")
    item = _open_request(version, engineer)
    page = _client(engineer).get(item.get_absolute_url())
    assert page.status_code == 200
    assert b"fraud<b>" not in page.content
    assert b"fraud&lt;b&gt;" in page.content
    for name in (b"Compliance review", b"Security review", b"Release sign-off"):
        assert name in page.content
    assert item.snapshot_sha256.encode() in page.content
    assert page["Cache-Control"].startswith("private")


def test_snapshot_download_is_the_hashed_bytes(make_user, version):
    engineer = make_user("eve", "ml-engineer")
    item = _open_request(version, engineer)
    answer = _client(make_user("ann", "auditor")).get(reverse("approvals:snapshot", args=[item.pk]))
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/json"
    assert hashlib.sha256(answer.content).hexdigest() == item.snapshot_sha256
    assert answer["X-Evidence-SHA256"] == item.snapshot_sha256


def test_reject_without_a_comment_is_refused_by_the_form_and_nothing_is_recorded(
    make_user, version
):
    engineer = make_user("eve", "ml-engineer")
    officer = make_user("olivia", "compliance-officer")
    item = _open_request(version, engineer)
    answer = _client(officer).post(
        reverse("approvals:vote", args=[item.pk]), {"decision": "reject", "confirm": "on"}
    )
    assert answer.status_code == 422
    assert b"a rejection needs a comment" in answer.content
    assert not Vote.objects.exists()


def test_vote_needs_the_confirmation(make_user, version):
    engineer = make_user("eve", "ml-engineer")
    officer = make_user("olivia", "compliance-officer")
    item = _open_request(version, engineer)
    answer = _client(officer).post(
        reverse("approvals:vote", args=[item.pk]), {"decision": "approve", "comment": "ok"}
    )
    assert answer.status_code == 422
    assert b"Confirm that you have read the evidence" in answer.content
    assert not Vote.objects.exists()


def test_the_requester_cannot_approve_even_by_posting_the_form(make_user, version):
    engineer = make_user("eve", "ml-engineer", "compliance-officer")
    item = _open_request(version, engineer)
    page = _client(engineer).get(item.get_absolute_url())
    assert b"Submit vote" not in page.content
    answer = _client(engineer).post(
        reverse("approvals:vote", args=[item.pk]),
        {"decision": "approve", "comment": "mine", "confirm": "on"},
        follow=True,
    )
    assert answer.status_code == 200
    assert not Vote.objects.exists()


def test_a_missing_request_is_a_404(make_user):
    user = make_user("ann", "auditor")
    assert _client(user).get(reverse("approvals:request", args=[999999])).status_code == 404
    assert _client(user).get(reverse("approvals:snapshot", args=[999999])).status_code == 404
