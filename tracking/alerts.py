"""Out-of-band promotion alerts: a watched alias moved to a version govdash did
not approve. Sync raises them; people acknowledge them here."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import record
from tracking.models import AliasChange
from tracking.permissions import may_acknowledge_alerts


class AlertAlreadyAcknowledged(Exception):
    pass


@transaction.atomic
def alert_acknowledge(*, change: AliasChange, actor: AbstractBaseUser) -> AliasChange:
    """Mark an open alert as seen. Compare-and-swap: of two people acknowledging
    at once, one wins and the other gets ``AlertAlreadyAcknowledged``."""
    if not may_acknowledge_alerts(actor):
        raise PermissionDenied("Only compliance officers and administrators acknowledge alerts.")
    if not change.unapproved:
        raise ValidationError("This alias change was approved: there is no alert to acknowledge.")
    now = timezone.now()
    updated = AliasChange.objects.filter(
        pk=change.pk, unapproved=True, acknowledged_at__isnull=True
    ).update(acknowledged_at=now, acknowledged_by=actor)
    if updated != 1:
        raise AlertAlreadyAcknowledged(f"alert #{change.pk} is already acknowledged")
    change.acknowledged_at = now
    change.acknowledged_by = actor  # type: ignore[assignment]
    record(
        action="tracking.alert_acknowledge",
        actor=actor,
        target=change,
        data={
            "model": change.model.name,
            "source": change.model.source.name,
            "alias": change.alias,
            "from_version": change.from_version,
            "to_version": change.to_version,
            "observed_at": change.observed_at.isoformat(),
        },
    )
    return change
