"""Background jobs of the promotion workflow (queued by ``approvals.services``).

Both are safe to run twice: a delivery acts only on an approved request whose promotion is
pending and that no other worker holds; a notification only re-sends a message.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib

from django.db.models import Q, QuerySet
from django.utils import timezone

from approvals import delivery, notifications, services
from approvals.models import PromotionRequest
from kernel.errors import one_line
from kernel.queues import enqueue
from kernel.reconcile import Recovery

DELIVER_JOB = "approvals.jobs.deliver_promotion_job"
# A pending promotion approved longer ago than this, that no worker holds, lost its job.
REQUEUE_AFTER = dt.timedelta(minutes=5)

logger = logging.getLogger(__name__)


def deliver_promotion_job(request_id: int) -> None:
    """Carry out an approved promotion (approvals.delivery) and report the outcome."""
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


def _stale_pending(now: dt.datetime) -> QuerySet[PromotionRequest]:
    """Approved requests whose promotion is still pending, that no worker holds and
    that were approved over ``REQUEUE_AFTER`` ago: their job was never queued (Redis
    was down) or vanished."""
    return (
        PromotionRequest.objects.filter(
            status=PromotionRequest.Status.APPROVED, promotion=PromotionRequest.Promotion.PENDING
        )
        .filter(Q(delivery_lease_until__isnull=True) | Q(delivery_lease_until__lte=now))
        .filter(Q(closed_at__isnull=True) | Q(closed_at__lte=now - REQUEUE_AFTER))
    )


def requeue_pending_promotions(*, now: dt.datetime | None = None) -> int:
    """Queue delivery again for every stale pending promotion (``_stale_pending``). A
    request queued twice is still delivered once (the lease). Raises QueueUnavailable when
    Redis cannot take the jobs; how many were queued otherwise."""
    stale = _stale_pending(now or timezone.now()).order_by("pk").values_list("pk", flat=True)
    queued = 0
    for request_id in stale:
        enqueue("default", DELIVER_JOB, request_id)
        queued += 1
    return queued


class PromotionReconciler:
    """The promotions' part of the reconciliation loop (``kernel.reconcile``)."""

    def reconcile(self) -> list[Recovery]:
        now = timezone.now()
        ids = list(_stale_pending(now).order_by("pk").values_list("pk", flat=True))
        requeue_pending_promotions(now=now)
        return [
            Recovery("promotion", pk, "requeued", "approved, delivery pending, no worker holds it")
            for pk in ids
        ]

    def overdue(self) -> int:
        return _stale_pending(timezone.now()).count()
