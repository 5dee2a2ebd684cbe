"""The promotion workflow's records (docs/approvals.md).

An ``Environment`` (staging, production) owns an alias and an ordered list of
``Stage`` rows per workflow (``promotion``, and the expedited ``rollback``).
A ``PromotionRequest`` asks to point that alias at a model version; it freezes
the workflow and an evidence snapshot when it is made, collects ``Vote`` rows
stage by stage, and once approved is delivered (alias and tags written to
MLflow, or a hook called), each try a ``DeliveryAttempt``.

Only ``approvals.services`` writes these tables, and every change of a
request's status or promotion goes through its one transition function.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

ENVIRONMENT_NAME = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,39}$",
    "Use 1-40 lower-case letters, digits, '_' or '-', starting with a letter or digit.",
)

# The classifications the seed's validate_compliance accepts, least to most strict.
CLASSIFICATIONS: tuple[str, ...] = ("public", "official", "secret")


class Team(models.Model):
    """People who own the models of one or more departments (the ``department`` tag)."""

    name = models.CharField(max_length=100, unique=True)
    # Values of the ``department`` tag this team owns, compared case-insensitively.
    departments = models.JSONField(default=list, blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Environment(models.Model):
    class HookKind(models.TextChoices):
        NONE = "none", "No hook"
        GITLAB_TRIGGER = "gitlab-trigger", "GitLab pipeline trigger"
        WEBHOOK = "webhook", "Signed webhook (HMAC-SHA256)"

    name = models.CharField(max_length=40, unique=True, validators=[ENVIRONMENT_NAME])
    position = models.PositiveIntegerField(default=0)
    # The alias govdash sets on an approved version (default: the environment's name).
    alias = models.CharField(max_length=255)
    allowed_classifications = models.JSONField(default=list)
    hook_kind = models.CharField(max_length=20, choices=HookKind.choices, default=HookKind.NONE)
    # GitLab: <gitlab>/api/v4/projects/<id>/trigger/pipeline; webhook: the receiver's URL.
    hook_url = models.URLField(max_length=500, blank=True)
    hook_ref = models.CharField(max_length=255, blank=True, help_text="GitLab trigger: the ref")
    # The trigger token or the webhook's HMAC key, encrypted like source credentials.
    hook_secret_encrypted = models.TextField(blank=True)
    # Deliver to the hook on MLflow sources too (GitLab sources always use it).
    hook_always = models.BooleanField(default=False)
    # Approvers limited to the team owning the model's department.
    team_restricted = models.BooleanField(default=False)
    # An approval survives the publication of a newer policy version.
    keep_approvals_across_policies = models.BooleanField(default=False)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Stage(models.Model):
    class Workflow(models.TextChoices):
        PROMOTION = "promotion", "Promotion"
        ROLLBACK = "rollback", "Rollback (expedited)"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="stages")
    workflow = models.CharField(max_length=10, choices=Workflow.choices, default=Workflow.PROMOTION)
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=100)
    required = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    # Role names (kernel.roles.Role) whose members may vote in this stage.
    roles = models.JSONField(default=list)

    class Meta:
        ordering = ["environment", "workflow", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "workflow", "position"], name="approvals_stage_order"
            ),
            models.CheckConstraint(condition=Q(required__gte=1), name="approvals_stage_required"),
        ]

    def __str__(self) -> str:
        return f"{self.environment.name}/{self.workflow}: {self.name}"


class PromotionRequest(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"
        EXPIRED = "expired", "Expired"
        INVALIDATED = "invalidated", "Invalidated"

    class Promotion(models.TextChoices):
        NONE = "none", "Not yet"
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="requests")
    version = models.ForeignKey(
        "tracking.ModelVersion", on_delete=models.PROTECT, related_name="promotion_requests"
    )
    rollback = models.BooleanField(default=False)
    # Rollback: the version the environment pointed at when the rollback was asked.
    replaces_version = models.ForeignKey(
        "tracking.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="promotion_requests"
    )
    justification = models.TextField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    promotion = models.CharField(max_length=8, choices=Promotion.choices, default=Promotion.NONE)
    closed_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    # Index into ``workflow`` of the stage now open (== len(workflow) once all passed).
    stage_index = models.PositiveIntegerField(default=0)
    # The stages as they were defined when the request was made: [{name, required, roles}].
    workflow = models.JSONField(default=list)
    # Gate results at request time and when the last stage completed: [{name, passed, detail}].
    gates = models.JSONField(default=list)
    final_gates = models.JSONField(default=list, blank=True)
    # The evidence reviewers saw: canonical JSON (sorted keys, no spaces) and its SHA-256.
    snapshot = models.TextField()
    snapshot_sha256 = models.CharField(max_length=64)
    # Digest of the facts a later sync may change (govdash's own writes left out).
    facts_digest = models.CharField(max_length=64)
    # The policy version the run's assessment was judged under.
    policy_version = models.ForeignKey(
        "reports.PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    promotion_detail = models.TextField(blank=True)
    # A delivery job holds the request until then (approvals.delivery.claim), so two
    # workers never deliver it at once; a lapsed lease is free to take.
    delivery_lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "environment"],
                condition=Q(status="open"),
                name="approvals_one_open_request",
            )
        ]
        indexes = [
            models.Index(fields=["status", "environment"], name="approvals_req_status"),
            models.Index(
                fields=["environment", "promotion", "-promoted_at"], name="approvals_done"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.version} -> {self.environment.name}"

    def get_absolute_url(self) -> str:
        return reverse("approvals:request", args=[self.pk])


class Vote(models.Model):
    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"

    request = models.ForeignKey(PromotionRequest, on_delete=models.PROTECT, related_name="votes")
    stage_index = models.PositiveIntegerField()
    stage_name = models.CharField(max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The role the vote counted under (one of the stage's roles the voter holds).
    role = models.CharField(max_length=40)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            # A person votes at most once per request, whatever the stage.
            models.UniqueConstraint(fields=["request", "user"], name="approvals_one_vote"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.decision} #{self.request_id} ({self.stage_name})"


class Comment(models.Model):
    """Discussion on a request that is not a vote."""

    request = models.ForeignKey(PromotionRequest, on_delete=models.PROTECT, related_name="comments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"comment by {self.user} on #{self.request_id}"


class DeliveryAttempt(models.Model):
    """One try at carrying out an approved promotion."""

    class Kind(models.TextChoices):
        MLFLOW = "mlflow", "MLflow alias and tags"
        GITLAB_TRIGGER = "gitlab-trigger", "GitLab pipeline trigger"
        WEBHOOK = "webhook", "Signed webhook"
        # Nothing could be sent (a GitLab source whose environment has no hook).
        NONE = "none", "Not deliverable"

    request = models.ForeignKey(
        PromotionRequest, on_delete=models.PROTECT, related_name="deliveries"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    attempt = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        outcome = "ok" if self.succeeded else "failed"
        return f"{self.kind} attempt {self.attempt} for #{self.request_id}: {outcome}"
