"""E-mail about promotion requests, sent from ``approvals.jobs.notify_job``.

Two events (docs/approvals.md):

* ``stage_open``: the people who may vote in the stage that just opened;
* ``decision``: the requester, when the request is approved, rejected, withdrawn, expired or
  invalidated, and when its promotion is done or failed.

Messages go through Django's mail backend (``GOVDASH_EMAIL_URL``, the console by default),
one per recipient so nobody sees who else was asked, with absolute links built from
``GOVDASH_BASE_URL``. People without an e-mail address are skipped.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from approvals.delivery import request_url, shown
from approvals.models import PromotionRequest
from approvals.selectors import eligible_voters

logger = logging.getLogger(__name__)

STAGE_OPEN = "stage_open"
DECISION = "decision"
EVENTS = (STAGE_OPEN, DECISION)


def open_stage(request: PromotionRequest) -> dict[str, Any] | None:
    """The frozen definition of the stage now open, or None when none is."""
    if request.status != PromotionRequest.Status.OPEN:
        return None
    if request.stage_index >= len(request.workflow):
        return None
    stage: dict[str, Any] = request.workflow[request.stage_index]
    return stage


def recipients(request: PromotionRequest, event: str) -> list[Any]:
    """The users to write to about ``event``, those without an address left out."""
    if event == STAGE_OPEN:
        people = list(eligible_voters(request))
    elif event == DECISION:
        people = [request.requested_by]
    else:
        raise ValueError(f"unknown notification event {event!r}; use one of {EVENTS}")
    return [p for p in people if p.is_active and p.email]


def _what(request: PromotionRequest) -> str:
    version = request.version
    return (
        f"{'rollback of' if request.rollback else 'promotion of'} model {version.model.name} "
        f"version {version.version} to {request.environment.name}"
    )


def _decision(request: PromotionRequest) -> tuple[str, str] | None:
    """(what happened in a few words, what to say about it), or None when nothing was decided."""
    status = request.status
    reason = request.closed_reason.strip()
    if status == PromotionRequest.Status.APPROVED:
        promotion = request.promotion
        if promotion == PromotionRequest.Promotion.DONE:
            return "promoted", (
                f"Your {_what(request)} was approved and carried out: "
                f"{request.environment.name} now runs this version."
            )
        if promotion == PromotionRequest.Promotion.FAILED:
            return "approved, promotion failed", (
                f"Your {_what(request)} was approved, but carrying it out failed: "
                f"{request.promotion_detail or 'no detail'}. The approval stands; an admin "
                "can retry the promotion."
            )
        return "approved", f"Your {_what(request)} was approved; the promotion is under way."
    if status == PromotionRequest.Status.OPEN:
        return None
    label = PromotionRequest.Status(status).label.lower()
    text = f"Your {_what(request)} was {label}."
    return label, text + (f" Reason: {reason}" if reason else "")


def compose(request: PromotionRequest, event: str) -> tuple[str, str] | None:
    """(subject, body) of the message about ``event``, or None when there is nothing to say."""
    url = request_url(request)
    version = request.version
    if event == STAGE_OPEN:
        stage = open_stage(request)
        if stage is None:
            return None
        required = int(stage.get("required", 1))
        subject = (
            f"[govdash] Review requested: {version.model.name} v{version.version} "
            f"to {request.environment.name} (#{request.pk})"
        )
        body = (
            f"{request.requested_by.get_username()} asks for the {_what(request)} "
            f"(source {version.model.source.name}).\n\n"
            f"Stage now open: {stage.get('name', '')}, needing {required} "
            f"approval{'s' if required != 1 else ''}.\n\n"
            f"Justification:\n{request.justification}\n\n"
            f"Review the evidence and vote: {url}\n"
        )
        return shown(subject, "", 250), body
    if event == DECISION:
        decided = _decision(request)
        if decided is None:
            return None
        label, text = decided
        subject = f"[govdash] Promotion request #{request.pk}: {label}"
        return shown(subject, "", 250), f"{text}\n\nThe request: {url}\n"
    raise ValueError(f"unknown notification event {event!r}; use one of {EVENTS}")


def notify(*, request_id: int, event: str) -> int:
    """Send the messages about ``event`` for the request; how many were sent."""
    request = (
        PromotionRequest.objects.select_related(
            "environment", "requested_by", "version__model__source", "version__run"
        )
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        logger.warning("notification %s: promotion request #%s no longer exists", event, request_id)
        return 0
    composed = compose(request, event)
    if composed is None:
        return 0
    subject, body = composed
    messages = [
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [person.email])
        for person in recipients(request, event)
    ]
    if not messages:
        return 0
    with get_connection() as connection:
        sent = connection.send_messages(messages)
    return int(sent or 0)
