"""Out-of-band promotion alerts: a watched alias moved to a version govdash did
not approve.

Sync records every alias move as a fact; the layer that owns approvals judges
it (``tracking.signals.alias_changed``) and, for a move it did not approve,
calls ``alert_raise``. People acknowledge alerts here."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audit.actors import SystemActor
from audit.models import AuditEvent
from audit.services import record
from kernel.errors import Conflict
from tracking.audit_actions import TrackingAction
from tracking.models import AliasChange
from tracking.permissions import ACKNOWLEDGE_ALERT


class AlertAlreadyAcknowledged(Conflict):
    pass


@transaction.atomic
def alert_raise(*, change: AliasChange, reason: str) -> AliasChange:
    """Flag an observed alias move as unapproved (an open alert), with the reason."""
    updated = AliasChange.objects.filter(pk=change.pk, unapproved=False).update(unapproved=True)
    change.unapproved = True
    if updated:
        record(
            action=TrackingAction.ALIAS_UNAPPROVED,
            system_actor=SystemActor.SYNC,
            target=change,
            outcome=AuditEvent.Outcome.FAILURE,
            data={
                "source": change.model.source.name,
                "model": change.model.name,
                "alias": change.alias,
                "from": change.from_version,
                "to": change.to_version,
                "reason": reason,
            },
        )
    return change


@transaction.atomic
def alert_acknowledge(*, change: AliasChange, actor: User) -> AliasChange:
    """Mark an open alert as seen. Compare-and-swap: of two people acknowledging
    at once, one wins and the other gets ``AlertAlreadyAcknowledged``."""
    if not actor.has_perm(ACKNOWLEDGE_ALERT, change):
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
    change.acknowledged_by = actor
    record(
        action=TrackingAction.ALERT_ACKNOWLEDGE,
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
