"""Compliance policies, their versions, and per-run assessments.

Only the services in ``reports.services`` write these rows. Assessments are
never overwritten: a re-assessment adds a row and moves the run's "current"
marker to it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from kernel.errors import Conflict
from tracking.models import Run


class Policy(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Empty: every source; otherwise the source names it applies to.
    source_names = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("reports:policy", args=[self.slug])

    def current_version(self) -> PolicyVersion | None:
        return self.versions.filter(published_at__isnull=False).order_by("-number").first()


class PolicyVersion(models.Model):
    """A numbered set of rules. Drafts can be edited; a published version is
    immutable (the services refuse to change it), so every assessment can say
    exactly which rules it applied."""

    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    rules = models.JSONField()
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    content_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["policy", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "number"], name="reports_policy_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.policy.name} v{self.number}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class AssessmentQuerySet(models.QuerySet["Assessment"]):
    def current(self) -> AssessmentQuerySet:
        return self.filter(is_current=True)


class Assessment(models.Model):
    class Verdict(models.TextChoices):
        COMPLIANT = "compliant", "Compliant"
        NON_COMPLIANT = "non_compliant", "Non-compliant"
        ERROR = "error", "Error"

    class Risk(models.TextChoices):
        NONE = "none", "None"
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="assessments")
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="assessments")
    policy_version = models.ForeignKey(
        PolicyVersion, on_delete=models.PROTECT, related_name="assessments"
    )
    # The run's facts_hash when assessed: the same run content under the same
    # policy version is assessed once.
    run_content_hash = models.CharField(max_length=64)
    verdict = models.CharField(max_length=20, choices=Verdict.choices, db_index=True)
    risk = models.CharField(max_length=10, choices=Risk.choices, db_index=True)
    score = models.PositiveIntegerField(default=0)
    failed_rules = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    assessed_at = models.DateTimeField(default=timezone.now, db_index=True)
    is_current = models.BooleanField(default=True)
    batch = models.ForeignKey(
        "AssessmentBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = AssessmentQuerySet.as_manager()

    class Meta:
        ordering = ["-assessed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "policy_version", "run_content_hash"],
                name="reports_assessment_once_per_content",
            ),
            # Exactly one current assessment per run and policy.
            models.UniqueConstraint(
                fields=["run", "policy"],
                condition=Q(is_current=True),
                name="reports_assessment_one_current",
            ),
        ]
        indexes = [
            models.Index(
                fields=["policy", "verdict"],
                condition=Q(is_current=True),
                name="reports_current_verdict",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run} under {self.policy_version}: {self.verdict}"


class RuleResult(models.Model):
    class Outcome(models.TextChoices):
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail"
        NOT_APPLICABLE = "not_applicable", "Not applicable"
        ERROR = "error", "Error"

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="results")
    rule_id = models.CharField(max_length=64)
    title = models.CharField(max_length=300)
    severity = models.CharField(max_length=10)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    # What was seen and what was expected, as JSON, for the evidence trail.
    observed = models.JSONField(null=True, blank=True)
    expected = models.JSONField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["assessment", "id"]
        indexes = [models.Index(fields=["rule_id", "outcome"], name="reports_rule_outcome")]

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.outcome}"


class AssessmentBatch(models.Model):
    """One job's worth of runs to assess (a few hundred), so the fork-per-job
    cost of RQ stays small while each run keeps its own result."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        # Recorded, but the job queue could not take its job (``error`` says
        # why): still to be assessed, and queued again by the maintenance
        # tick or ``manage.py assess`` once the queue is back.
        UNQUEUED = "unqueued", "Not queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    request = models.ForeignKey(
        "AssessmentRequest", on_delete=models.CASCADE, related_name="batches"
    )
    run_ids = models.JSONField()  # mirror primary keys
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    job_id = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["request", "id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="reports_batch_status")]

    def __str__(self) -> str:
        return f"batch #{self.pk} ({self.status}, {len(self.run_ids)} runs)"


class AssessmentRequest(models.Model):
    """What someone (or a sync, or a publication) asked to be assessed."""

    policy_version = models.ForeignKey(
        PolicyVersion, on_delete=models.PROTECT, related_name="requests"
    )
    reason = models.CharField(max_length=200)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    total = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"assessment request #{self.pk}: {self.reason}"


class ReportImmutable(Conflict):
    """Reports are never deleted, and a finished one is never altered."""


class ReportQuerySet(models.QuerySet["Report"]):
    def delete(self) -> tuple[int, dict[str, int]]:
        raise ReportImmutable("reports cannot be deleted: nobody can alter or delete a report")

    delete.queryset_only = True  # type: ignore[attr-defined]


class Report(models.Model):
    """One generated PDF document. Written only by ``reports.documents.services``;
    never regenerated in place (a new request makes a new report) and never
    deleted. The stored file's SHA-256, size and page count are recorded when
    it is generated, and every download checks the file against them.

    The database holds to it as well (``reports/migrations/0006_report_immutable.py``,
    docs/operations.md "Reports cannot be altered or deleted"): triggers refuse
    DELETE (and TRUNCATE on PostgreSQL) of any report, every UPDATE of a
    finished (done or failed) one, any change of what was asked and by whom,
    and any status move other than queued -> running -> done, or -> failed.
    The ORM's ``delete()`` raises ``ReportImmutable`` before reaching it."""

    class Kind(models.TextChoices):
        EXPERIMENT = "experiment", "Experiment compliance report"
        MODEL_VERSION = "model-version", "Model version dossier"
        AUDIT = "audit", "Audit extract"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=20, choices=Kind.choices, db_index=True)
    parameters = models.JSONField(default=dict)
    title = models.CharField(max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A system actor (e.g. "command") when nobody signed in asked.
    requested_by_system = models.CharField(max_length=20, blank=True)
    policy_version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    phase = models.CharField(max_length=40, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)  # per cent
    error = models.TextField(blank=True)
    job_id = models.CharField(max_length=64, blank=True)
    file_name = models.CharField(max_length=300, blank=True)
    csv_name = models.CharField(max_length=300, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    csv_sha256 = models.CharField(max_length=64, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    evidence_sha256 = models.CharField(max_length=64, blank=True)
    signed = models.BooleanField(default=False)
    # An RFC 3161 timestamp from GOVDASH_REPORT_TSA_URL is in the signature.
    timestamped = models.BooleanField(default=False)
    refused_urls = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ReportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"report #{self.pk} ({self.kind}, {self.status})"

    def get_absolute_url(self) -> str:
        return reverse("reports:report", args=[self.pk])

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ReportImmutable(
            f"report {self.pk} cannot be deleted: nobody can alter or delete a report"
        )

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def requester_name(self) -> str:
        if self.requested_by is not None:
            return str(self.requested_by.get_username())
        return self.requested_by_system


# --------------------------------------------------------------------------- rollups
#
# The dashboard's figures, kept by the writers instead of aggregated over every
# run on each page view (docs/architecture.md, "Dashboard rollups"). Each table
# holds signed per-batch deltas (``folded`` False) written in the transaction
# of the change they count, and folded rows (one per ``key``) that the
# scheduler's maintenance tick makes from them. A figure is the sum of both.
# Written only by ``reports.rollups``. The ids are plain columns (no foreign
# key constraint): a delta row never locks the row it names.


class RollupRow(models.Model):
    """What every rollup row has: a signed count of runs, the run dimensions
    and its key."""

    runs = models.IntegerField()  # signed
    folded = models.BooleanField(default=False)
    # SHA-1 of the dimensions: one folded row per key.
    key = models.CharField(max_length=40)
    source = models.ForeignKey(
        "tracking.Source", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    experiment = models.ForeignKey(
        "tracking.Experiment", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    classification = models.CharField(max_length=100, blank=True)  # the raw column

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(folded=True), name="%(app_label)s_%(class)s_key"
            )
        ]
        indexes = [
            models.Index(
                fields=["id"], condition=Q(folded=False), name="%(app_label)s_%(class)s_new"
            ),
            models.Index(fields=["source", "experiment"], name="%(app_label)s_%(class)s_dims"),
        ]

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.key[:8]}: {self.runs:+d}"


class ComplianceDelta(RollupRow):
    """Current assessments of visible runs, by policy, version, run dimensions,
    verdict and risk; ``fresh``: assessed for the run's current content."""

    policy = models.ForeignKey(
        Policy, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    policy_version = models.ForeignKey(
        PolicyVersion, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    verdict = models.CharField(max_length=20)
    risk = models.CharField(max_length=10)
    fresh = models.BooleanField()


class TrendDelta(RollupRow):
    """The same assessments by the week their run started (runs with a start
    only): the trend, kept apart so that the other figures sum fewer rows."""

    policy = models.ForeignKey(
        Policy, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    week = models.DateField()  # Monday of the run's start, in TIME_ZONE
    verdict = models.CharField(max_length=20)

    class Meta(RollupRow.Meta):
        indexes = [
            *RollupRow.Meta.indexes,
            models.Index(fields=["policy", "week"], name="reports_trenddelta_week"),
        ]


class RuleFailDelta(RollupRow):
    """Failed rules of those current assessments, by policy and run dimensions."""

    policy = models.ForeignKey(
        Policy, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    rule_id = models.CharField(max_length=64)


class RunCountDelta(RollupRow):
    """Visible runs, by run dimensions (every policy: its scope is applied on read)."""

    week = models.DateField(null=True, blank=True)


class RollupState(models.Model):
    """One row once the rollups were built from scratch (``manage.py rollups
    rebuild``, or the maintenance tick on its first run): from then on the
    writers keep them current and the dashboard reads them. Without it the
    dashboard aggregates live."""

    built_at = models.DateTimeField()
    folded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rollups built {self.built_at:%Y-%m-%d %H:%M}"
