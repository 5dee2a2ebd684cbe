from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tracking.models import SyncRun
from tracking.schedule import enqueue_due_syncs, sources_due
from tracking.services import source_create, sync_request

pytestmark = pytest.mark.django_db


def _source(name: str, interval: int | None):  # type: ignore[no-untyped-def]
    return source_create(name=name, url="http://127.0.0.1:9", sync_interval_minutes=interval)


def test_a_scheduled_source_never_synced_is_due():
    source = _source("hourly", 60)
    _source("manual", None)
    assert sources_due() == [source]


def test_a_source_synced_within_its_interval_is_not_due():
    source = _source("hourly", 60)
    sync_run = sync_request(source=source)
    SyncRun.objects.filter(pk=sync_run.pk).update(status="succeeded")
    assert sources_due() == []
    assert sources_due(now=timezone.now() + dt.timedelta(minutes=61)) == [source]


def test_a_source_with_a_sync_running_is_never_due_twice():
    source = _source("every-minute", 1)
    sync_request(source=source)
    assert sources_due(now=timezone.now() + dt.timedelta(hours=5)) == []


@pytest.mark.redis
def test_due_syncs_are_queued_on_real_redis(redis_queue):
    queue = redis_queue("sync")
    source = _source("hourly", 60)
    queued = enqueue_due_syncs()
    sync_run = SyncRun.objects.get(pk=queued[0])
    assert sync_run.source == source
    assert sync_run.status == "queued"
    assert queue.job_ids == [sync_run.job_id]
    assert enqueue_due_syncs() == []  # already queued: not twice


def test_queue_unavailable_fails_the_sync_instead_of_leaving_it_queued(settings):
    from tracking.jobs import QueueUnavailable, sync_enqueue

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    source = _source("hourly", 60)
    with pytest.raises(QueueUnavailable, match="job queue cannot be reached"):
        sync_enqueue(source=source)
    sync_run = SyncRun.objects.get(source=source)
    assert sync_run.status == "failed"
    assert "job queue cannot be reached" in sync_run.error


def test_without_redis_jobs_run_inline(settings):
    from tracking.jobs import sync_enqueue

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.JOBS_INLINE = True
    source = _source("inline", None)
    sync_run = sync_enqueue(source=source)
    sync_run.refresh_from_db()
    # Ran at once, in this process: the source is down, so it failed, with the reason.
    assert sync_run.status == "failed"
    assert "127.0.0.1:9" in sync_run.error
