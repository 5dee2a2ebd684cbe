"""Every recovery of an assessment batch is audited in the same transaction as
its move (docs/architecture.md, Audit): if the event cannot be written, the
batch has not moved either."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from reports import services
from reports.audit_actions import ReportsAction
from reports.jobs import MAX_ATTEMPTS, assess_pending, recover_running_batches
from reports.models import AssessmentBatch
from tests import factories

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


class AuditDown(Exception):
    pass


def _lost_batch(attempts: int) -> AssessmentBatch:
    """A running batch whose worker stopped reporting long ago."""
    factories.run()
    assess_pending(reason="test")
    batch = AssessmentBatch.objects.get()
    AssessmentBatch.objects.filter(pk=batch.pk).update(
        status="running",
        attempts=attempts,
        job_id="lost-job",
        heartbeat_at=timezone.now() - dt.timedelta(days=1),
    )
    return batch


@pytest.mark.parametrize(
    ("attempts", "action", "moved_to"),
    [(1, "requeued", "queued"), (MAX_ATTEMPTS, "failed", "failed")],
    ids=["requeue", "give-up"],
)
def test_a_batch_recovery_commits_with_its_audit_event_or_not_at_all(
    redis_queue, default_policy, monkeypatch, attempts, action, moved_to
):
    redis_queue("assess")
    batch = _lost_batch(attempts)
    real_record = services.record

    def record_refused(**kwargs):  # type: ignore[no-untyped-def]
        if kwargs["action"] == ReportsAction.ASSESS_RECOVER:
            raise AuditDown("the audit trail refused the event")
        return real_record(**kwargs)

    monkeypatch.setattr(services, "record", record_refused)
    with pytest.raises(AuditDown):
        recover_running_batches()
    batch.refresh_from_db()
    assert (batch.status, batch.job_id) == ("running", "lost-job")  # rolled back with the event

    monkeypatch.setattr(services, "record", real_record)
    (done,) = recover_running_batches()
    batch.refresh_from_db()
    assert (done.action, batch.status) == (action, moved_to)
    event = AuditEvent.objects.get(action="reports.assess_recover")
    assert event.data["batches"] == [batch.pk]
    assert event.data["action"] == action
    assert "stopped reporting" in event.data["reason"]
