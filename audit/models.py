from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def chain_order(self) -> AuditEventQuerySet:
        return self.order_by("sequence")

    def newest_first(self) -> AuditEventQuerySet:
        return self.order_by("-sequence")


class AuditEvent(models.Model):
    """One link of the append-only, hash-chained audit trail.

    ``hash = SHA-256(prev_hash + canonical JSON of the event)``; see
    ``audit.chain``. Rows are written only by ``audit.services.record`` and never
    updated, deleted or truncated (database triggers refuse it: UPDATE, DELETE
    and TRUNCATE on PostgreSQL, UPDATE on SQLite).
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        DENIED = "denied", "Denied"

    sequence = models.PositiveBigIntegerField(unique=True)
    timestamp = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # A snapshot: the trail must still read right after a user is renamed.
    actor_username = models.CharField(max_length=150, blank=True)
    actor_role = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    data = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(fields=["actor_username", "sequence"], name="audit_actor_idx"),
        ]
        permissions = [("export_auditevent", "Can export the audit trail")]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} by {self.actor_username or 'system'}"


class AuditHead(models.Model):
    """The chain's head, kept apart from the events: sequence and hash of the newest.

    One row (``id = 1``), moved forward by ``audit.services.record`` in the
    transaction that appends the event. ``audit verify`` compares the end of the
    event table with it, so an emptied or cut-short table shows as missing
    events. Triggers refuse DELETE and TRUNCATE of the row and any UPDATE that
    does not move the sequence forward (on SQLite only the UPDATE rule holds).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_head_one_row")]

    def __str__(self) -> str:
        return f"audit head #{self.sequence} {self.hash}"
