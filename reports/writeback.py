"""Optional write-back of assessment results to vanilla MLflow run tags.

Off by default, per source. The tags are ``govdash.compliance`` (the verdict)
and ``govdash.risk``; sync leaves them out of the content compliance rules see,
so writing them back never causes a re-assessment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from audit.actors import SystemActor
from audit.models import AuditEvent
from audit.services import record
from reports.audit_actions import ReportsAction
from reports.models import Assessment
from tracking import mlflow as remote
from tracking import secrets
from tracking.models import GOVDASH_TAG_PREFIX, Source
from tracking.sources import client_for

logger = logging.getLogger(__name__)

COMPLIANCE_TAG = f"{GOVDASH_TAG_PREFIX}compliance"
RISK_TAG = f"{GOVDASH_TAG_PREFIX}risk"


def writeback_assessments(*, assessment_ids: Iterable[int]) -> dict[str, int]:
    """Tag each assessed run on its tracking server; one source's failure does
    not stop the others. Returns counts written and failed."""
    assessments = (
        Assessment.objects.filter(
            pk__in=list(assessment_ids),
            is_current=True,
            run__source__writeback_enabled=True,
            run__source__kind=Source.Kind.MLFLOW,
        )
        .select_related("run__source")
        .order_by("run__source_id")
    )
    written = failed = 0
    clients: dict[int, remote.TrackingClient | None] = {}
    errors: dict[str, str] = {}
    for assessment in assessments:
        source = assessment.run.source
        if source.pk not in clients:
            try:
                clients[source.pk] = client_for(source)
            except secrets.SecretUnavailable as exc:
                clients[source.pk] = None
                errors[source.name] = str(exc)
        client = clients[source.pk]
        if client is None:
            failed += 1
            continue
        try:
            client.set_run_tag(assessment.run.run_id, COMPLIANCE_TAG, assessment.verdict)
            client.set_run_tag(assessment.run.run_id, RISK_TAG, assessment.risk)
        except remote.MlflowError as exc:
            failed += 1
            errors.setdefault(source.name, str(exc).splitlines()[0])
            continue
        written += 1
    if written or failed:
        with transaction.atomic():
            record(
                action=ReportsAction.WRITEBACK,
                system_actor=SystemActor.ASSESSOR,
                outcome=AuditEvent.Outcome.FAILURE if failed else AuditEvent.Outcome.SUCCESS,
                data={"written": written, "failed": failed, "errors": errors},
            )
    for name, error in errors.items():
        logger.warning("write-back to %s failed: %s", name, error)
    return {"written": written, "failed": failed}
