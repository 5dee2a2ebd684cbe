"""Notification e-mails, through Django's locmem backend: who receives them, and links that
are absolute under GOVDASH_BASE_URL."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core import mail

from approvals import delivery
from approvals.jobs import notify_job
from approvals.models import PromotionRequest, Team, Vote
from govdash.demo.mlflow_server import free_port

from . import factories as f
from .delivery_fixtures import _quick_delivery  # noqa: F401  (autouse)

pytestmark = pytest.mark.django_db

Status = PromotionRequest.Status
Promotion = PromotionRequest.Promotion
BASE = "https://govdash.example/gd"


@pytest.fixture(autouse=True)
def _base_url(settings: Any) -> None:
    settings.BASE_URL = BASE
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DEFAULT_FROM_EMAIL = "govdash@gov.example"


def _open_at_security_review(*, team_restricted: bool = False) -> PromotionRequest:
    """A production request whose second stage (Security review, reviewers) is open."""
    src = f.source("mlflow-test", "http://127.0.0.1:9")
    run = f.trained_run(src, user_id="tina", tags={"department": "Risk"})
    requester = f.user("ana", "ml-engineer", "reviewer")  # a reviewer too: still excluded
    request = f.promotion_request(
        version=f.version(src, "scorer", "3", run=run, tags={"department": "Risk"}),
        environment=f.environment("production", team_restricted=team_restricted),
        workflow=[{**stage, "team_restricted": team_restricted} for stage in f.PRODUCTION_WORKFLOW],
        requester=requester,
        status=Status.OPEN,
        promotion=Promotion.NONE,
        stage_index=1,
        approvers=[
            (
                f.user("olivia", "compliance-officer", "reviewer"),
                "Compliance review",
                "compliance-officer",
            )
        ],
    )
    f.user("rex", "reviewer")
    f.user("rita", "reviewer")
    f.user("tina", "reviewer")  # trained the version
    f.user("nomail", "reviewer", email="")
    f.user("gone", "reviewer", is_active=False)
    f.user("carl", "compliance-officer")  # not in this stage's roles
    f.user("aud", "auditor")
    return request


def _recipients() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


def test_stage_open_goes_to_each_eligible_voter_with_an_absolute_link() -> None:
    request = _open_at_security_review()

    notify_job(request.pk, "stage_open")

    assert _recipients() == ["rex@gov.example", "rita@gov.example"]
    assert all(len(message.to) == 1 for message in mail.outbox)
    message = mail.outbox[0]
    assert message.from_email == "govdash@gov.example"
    assert "Review requested: scorer v3 to production" in message.subject
    assert f"#{request.pk}" in message.subject
    assert "Security review, needing 1 approval." in message.body
    link = delivery.request_url(request)
    assert link == f"{BASE}/approvals/requests/{request.pk}/"
    assert link in message.body
    assert "Better recall" in message.body


def test_stage_open_leaves_out_who_already_voted() -> None:
    request = _open_at_security_review()
    Vote.objects.create(
        request=request,
        stage_index=1,
        stage_name="Security review",
        user=f.user("rex"),
        role="reviewer",
        decision=Vote.Decision.APPROVE,
    )

    notify_job(request.pk, "stage_open")

    assert _recipients() == ["rita@gov.example"]


def test_team_restriction_writes_only_to_the_owning_team() -> None:
    request = _open_at_security_review(team_restricted=True)
    team = Team.objects.create(name="Risk analytics", departments=["risk"])
    team.members.add(f.user("rita"))
    Team.objects.create(name="Fraud", departments=["fraud"]).members.add(f.user("rex"))

    notify_job(request.pk, "stage_open")

    assert _recipients() == ["rita@gov.example"]


def test_team_restriction_without_an_owning_team_writes_to_admins() -> None:
    request = _open_at_security_review(team_restricted=True)
    Team.objects.create(name="Fraud", departments=["fraud"]).members.add(f.user("rex"))
    f.user("boss", "admin")

    notify_job(request.pk, "stage_open")

    assert _recipients() == ["boss@gov.example"]


def test_no_stage_open_mail_once_the_request_is_closed() -> None:
    request = _open_at_security_review()
    PromotionRequest.objects.filter(pk=request.pk).update(status=Status.WITHDRAWN)

    notify_job(request.pk, "stage_open")

    assert mail.outbox == []


@pytest.mark.parametrize(
    ("status", "promotion", "extra", "subject", "says"),
    [
        (
            Status.REJECTED,
            Promotion.NONE,
            {"closed_reason": "No drift analysis."},
            "rejected",
            "was rejected. Reason: No drift analysis.",
        ),
        (Status.EXPIRED, Promotion.NONE, {}, "expired", "was expired."),
        (
            Status.INVALIDATED,
            Promotion.NONE,
            {"closed_reason": "tag security_scan changed"},
            "invalidated",
            "Reason: tag security_scan changed",
        ),
        (Status.APPROVED, Promotion.PENDING, {}, "approved", "the promotion is under way"),
        (Status.APPROVED, Promotion.DONE, {}, "promoted", "production now runs this version"),
        (
            Status.APPROVED,
            Promotion.FAILED,
            {"promotion_detail": "HTTP 500 from the hook"},
            "approved, promotion failed",
            "HTTP 500 from the hook. The approval stands",
        ),
    ],
)
def test_decision_goes_to_the_requester(
    status: str, promotion: str, extra: dict[str, str], subject: str, says: str
) -> None:
    request = _open_at_security_review()
    PromotionRequest.objects.filter(pk=request.pk).update(
        status=status, promotion=promotion, **extra
    )

    notify_job(request.pk, "decision")

    [message] = mail.outbox
    assert message.to == ["ana@gov.example"]
    assert message.subject == f"[govdash] Promotion request #{request.pk}: {subject}"
    assert says in message.body
    assert delivery.request_url(request) in message.body


def test_no_decision_mail_for_an_open_request_or_a_requester_without_address() -> None:
    request = _open_at_security_review()
    notify_job(request.pk, "decision")
    assert mail.outbox == []

    PromotionRequest.objects.filter(pk=request.pk).update(status=Status.REJECTED)
    request.requested_by.email = ""
    request.requested_by.save()
    notify_job(request.pk, "decision")
    assert mail.outbox == []


def test_an_unknown_event_is_an_error() -> None:
    request = _open_at_security_review()
    with pytest.raises(ValueError, match="unknown notification event"):
        notify_job(request.pk, "gossip")


def test_an_unreachable_mail_server_is_logged_not_raised(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_TIMEOUT = 2
    request = _open_at_security_review()

    with caplog.at_level(logging.ERROR, logger="approvals.jobs"):
        notify_job(request.pk, "stage_open")

    assert f"promotion #{request.pk}: stage_open e-mail not sent" in caplog.text


def test_a_missing_request_sends_nothing() -> None:
    notify_job(999_999, "decision")
    assert mail.outbox == []
