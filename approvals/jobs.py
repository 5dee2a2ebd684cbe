"""Background jobs of the promotion workflow (queued by ``approvals.services``).

Both are safe to run twice: a delivery acts only on an approved request whose promotion is
pending and that no other worker holds; a notification only re-sends a message.
"""

from __future__ import annotations

import importlib
import logging
import smtplib

from approvals import delivery, notifications
from approvals.models import PromotionRequest
from kernel.errors import one_line

logger = logging.getLogger(__name__)


def deliver_promotion_job(request_id: int) -> None:
    """Carry out an approved promotion (approvals.delivery) and report the outcome."""
    # CORE's transition function (branch h-appcore). Imported by name until that module is
    # merged; then a plain ``from approvals import services`` at the top.
    services = importlib.import_module("approvals.services")
    lease = delivery.claim(request_id)
    if lease is None:
        logger.info("promotion #%s: nothing to deliver, or another worker holds it", request_id)
        return
    try:
        request = PromotionRequest.objects.select_related(
            "environment", "requested_by", "version__model__source", "version__run"
        ).get(pk=request_id)
        outcome = delivery.deliver_with_retries(request)
        services.promotion_delivered(
            request_id=request_id, succeeded=outcome.succeeded, detail=outcome.detail
        )
    finally:
        delivery.release(request_id, lease)


def notify_job(request_id: int, event: str) -> None:
    """E-mail the people ``event`` concerns (approvals.notifications)."""
    try:
        sent = notifications.notify(request_id=request_id, event=event)
    except (smtplib.SMTPException, OSError) as exc:
        # A notification is not worth failing anything for; the request page has it all.
        logger.error("promotion #%s: %s e-mail not sent: %s", request_id, event, one_line(exc))
        return
    logger.info("promotion #%s: %s e-mail sent to %d people", request_id, event, sent)
