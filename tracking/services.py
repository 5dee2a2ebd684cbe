"""Writes for sources and syncs. Sync itself lives in tracking.sync."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actors import SystemActor
from audit.models import AuditEvent
from audit.services import record
from kernel.errors import Conflict, one_line
from tracking import mlflow as remote
from tracking import secrets
from tracking.audit_actions import TrackingAction
from tracking.models import RegisteredModel, Run, Source, SyncRun
from tracking.selectors import overdue_syncs
from tracking.signals import sync_finished
from tracking.sources import client_for
from tracking.sync import FULL_SYNC_EVERY, ProgressCallback, _Sync

logger = logging.getLogger(__name__)

# Where a sync's worker was lost: the phase of a sync failed by recovery.
LOST_PHASE = "lost"


class SyncAlreadyRunning(Conflict):
    def __init__(self, sync_run: SyncRun) -> None:
        super().__init__(f"a sync of {sync_run.source.name} is already {sync_run.status}")
        self.sync_run = sync_run


# --------------------------------------------------------------------------- sources


@transaction.atomic
def source_create(
    *,
    name: str,
    url: str,
    kind: str = Source.Kind.MLFLOW,
    auth: str = Source.Auth.NONE,
    secret_env: str = "",
    secret: str = "",
    sync_interval_minutes: int | None = None,
    watched_aliases: list[str] | None = None,
    writeback_enabled: bool = False,
    actor: User | None = None,
) -> Source:
    """Register a tracking source. The credential is read from ``secret_env``
    at sync time, or ``secret`` is stored encrypted; neither is ever shown."""
    if secret and secret_env:
        raise ValidationError({"secret": "Give an environment variable or a secret, not both."})
    if auth == Source.Auth.NONE and (secret or secret_env):
        auth = Source.Auth.BEARER
    secrets.check_source(name=name, url=url, secret_env=secret_env.strip())
    source = Source(
        name=name,
        url=url.strip(),
        kind=kind,
        auth=auth,
        secret_env=secret_env.strip(),
        secret_encrypted=secrets.encrypt(secret) if secret else "",
        sync_interval_minutes=sync_interval_minutes,
        watched_aliases=watched_aliases or ["production"],
        writeback_enabled=writeback_enabled,
    )
    source.full_clean()
    try:
        remote.rest_urls(source.url, source.kind)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValidationError({"url": str(exc)}) from None
    if writeback_enabled and source.kind != Source.Kind.MLFLOW:
        raise ValidationError(
            {"writeback_enabled": "Write-back needs vanilla MLflow (GitLab cannot store it)."}
        )
    if auth != Source.Auth.NONE and not (source.secret_env or source.secret_encrypted):
        raise ValidationError({"secret_env": "This authentication needs a credential."})
    source.save()
    record(
        action=TrackingAction.SOURCE_CREATE,
        actor=actor,
        system_actor=None if actor else SystemActor.COMMAND,
        target=source,
        data={
            "name": source.name,
            "kind": source.kind,
            "url": source.url,
            "auth": source.auth,
            "secret_env": source.secret_env,
            "secret_stored": bool(source.secret_encrypted),
            "writeback": source.writeback_enabled,
        },
    )
    return source


# --------------------------------------------------------------------------- syncs


def _transition(sync_run: SyncRun, *, from_states: tuple[str, ...], to: str, **fields: Any) -> bool:
    """The one place that moves SyncRun.status: compare-and-swap on the old state."""
    updated = SyncRun.objects.filter(pk=sync_run.pk, status__in=from_states).update(
        status=to, **fields
    )
    if updated:
        sync_run.status = to
        for key, value in fields.items():
            setattr(sync_run, key, value)
    return bool(updated)


@transaction.atomic
def sync_reap(sync_run: SyncRun, *, reason: str) -> bool:
    """running -> failed for a sync whose worker is gone (killed, lost, or its
    job ended without recording an end); audited. The next sync of the source
    resumes from its checkpoint. False if it was no longer running."""
    if not _transition(
        sync_run,
        from_states=(SyncRun.Status.RUNNING,),
        to=SyncRun.Status.FAILED,
        finished_at=timezone.now(),
        phase=LOST_PHASE,
        error=reason,
    ):
        return False
    record(
        action=TrackingAction.SYNC_LOST,
        system_actor=SystemActor.SYSTEM,
        target=sync_run,
        outcome=AuditEvent.Outcome.FAILURE,
        data={"source": sync_run.source.name, "reason": reason},
    )
    return True


def stale_reason() -> str:
    return (
        f"the worker stopped reporting for {settings.SYNC_STALE_SECONDS}s (killed or lost); "
        "the next sync resumes here"
    )


def reap_stale_syncs(*, source: Source | None = None) -> list[SyncRun]:
    """Fail syncs whose worker died (of ``source``, or of every source):
    nothing stays 'running' forever. Returns the syncs failed."""
    stale = overdue_syncs().select_related("source").filter(status=SyncRun.Status.RUNNING)
    if source is not None:
        stale = stale.filter(source=source)
    return [sync_run for sync_run in stale if sync_reap(sync_run, reason=stale_reason())]


@transaction.atomic
def sync_requeued(sync_run: SyncRun, *, old_job_id: str, new_job_id: str, reason: str) -> bool:
    """A queued sync whose job RQ lost gets the id of the job about to replace
    it (compare-and-swap on the old id: of two callers, one wins); audited."""
    if not SyncRun.objects.filter(
        pk=sync_run.pk, status=SyncRun.Status.QUEUED, job_id=old_job_id
    ).update(job_id=new_job_id):
        return False
    sync_run.job_id = new_job_id
    record(
        action=TrackingAction.SYNC_REQUEUED,
        system_actor=SystemActor.SYSTEM,
        target=sync_run,
        data={"source": sync_run.source.name, "reason": reason},
    )
    return True


def lost_in_a_row(sync_run: SyncRun) -> int:
    """How many syncs in the chain ending at ``sync_run`` (each resuming the
    one before) were lost with their worker."""
    count = 0
    current: SyncRun | None = sync_run
    while current is not None and current.phase == LOST_PHASE and count < 100:
        count += 1
        current = current.resumed_from
    return count


@transaction.atomic
def sync_abandon(sync_run: SyncRun, *, reason: str) -> bool:
    """A foreground sync (``manage.py sync``) that cannot go on: queued or
    running -> failed with ``reason``, audited, so it blocks no later sync."""
    if not _transition(
        sync_run,
        from_states=(SyncRun.Status.QUEUED, SyncRun.Status.RUNNING),
        to=SyncRun.Status.FAILED,
        finished_at=timezone.now(),
        phase="failed",
        error=reason,
    ):
        return False
    record(
        action=TrackingAction.SYNC,
        system_actor=SystemActor.SYNC,
        target=sync_run,
        outcome=AuditEvent.Outcome.FAILURE,
        data={"source": sync_run.source.name, "full": sync_run.full, "error": reason},
    )
    return True


@transaction.atomic
def sync_request(
    *,
    source: Source,
    full: bool = False,
    actor: User | None = None,
    system_actor: SystemActor = SystemActor.SYSTEM,
) -> SyncRun:
    """Create a queued SyncRun; raises SyncAlreadyRunning if one is active.

    ``actor`` is the person asking; without one, the request is audited under
    ``system_actor`` (the scheduler, or an operator's ``manage.py sync``)."""
    reap_stale_syncs(source=source)
    active = SyncRun.objects.active().filter(source=source).first()
    if active is not None:
        raise SyncAlreadyRunning(active)
    previous = SyncRun.objects.filter(source=source).order_by("-created_at", "-pk").first()
    resume = (
        previous is not None
        and previous.status == SyncRun.Status.FAILED
        and bool(previous.checkpoint)
    )
    if resume and previous is not None:
        # Carry on with what the interrupted sync was doing.
        full = full or previous.full
    try:
        with transaction.atomic():
            sync_run = SyncRun.objects.create(
                source=source,
                full=full,
                requested_by=actor if actor and actor.is_authenticated else None,
                checkpoint=previous.checkpoint if resume and previous else {},
                resumed_from=previous if resume else None,
            )
    except IntegrityError:
        # Another request won the race for the one active sync.
        raise SyncAlreadyRunning(SyncRun.objects.active().get(source=source)) from None
    record(
        action=TrackingAction.SYNC_REQUEST,
        actor=actor,
        system_actor=None if actor else system_actor,
        target=sync_run,
        data={
            "source": source.name,
            "full": full,
            "resumes": previous.pk if resume and previous else None,
        },
    )
    return sync_run


def _prepare(sync_run: SyncRun) -> None:
    """Settle what this sync will do before it starts: full or incremental, and
    an estimate of the work for the progress bar."""
    source = sync_run.source
    due_full = source.last_full_sync_at is None or (
        timezone.now() - source.last_full_sync_at > FULL_SYNC_EVERY
    )
    estimate = (
        Run.objects.filter(source=source).count()
        + RegisteredModel.objects.filter(source=source).count()
    )
    sync_run.full = sync_run.full or due_full
    sync_run.progress_total = estimate or None
    SyncRun.objects.filter(pk=sync_run.pk).update(
        full=sync_run.full, progress_total=sync_run.progress_total
    )


def sync_execute(
    *,
    sync_run: SyncRun,
    progress: ProgressCallback | None = None,
    client: remote.TrackingClient | None = None,
    job_id: str = "",
) -> SyncRun:
    """Run a queued sync to completion or failure (``job_id``: of the RQ job
    running it, recorded so recovery asks RQ about that one). A source problem (down,
    malformed answers, bad credentials) does not raise: it is recorded on the
    SyncRun and audited, and pages already written stay written."""
    sync_run = SyncRun.objects.select_related("source").get(pk=sync_run.pk)
    started = time.monotonic()
    now = timezone.now()
    if not _transition(
        sync_run,
        from_states=(SyncRun.Status.QUEUED,),
        to=SyncRun.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        **({"job_id": job_id} if job_id else {}),
    ):
        return sync_run  # another worker took it, or it already ended
    _prepare(sync_run)
    worker = None
    try:
        worker = _Sync(sync_run, client or client_for(sync_run.source), progress)
        worker.run()
    except (remote.MlflowError, secrets.SecretUnavailable) as exc:
        _finish(sync_run, worker, one_line(exc, with_type=False), started)
    except BaseException as exc:
        # A bug or an interrupted worker: record it, then let the worker see it.
        _finish(sync_run, worker, f"internal error: {one_line(exc)}", started)
        raise
    else:
        _finish(sync_run, worker, "", started)
    return sync_run


def _announce_finished(sync_run: SyncRun) -> None:
    """Tell higher layers, once the sync's end is committed (``tracking.signals``).

    The sync is done and recorded by then: a receiver that fails is logged and
    never turns a finished sync into an error (nor stops the other receivers)."""

    def send() -> None:
        answers = sync_finished.send_robust(
            sender=SyncRun,
            sync_run=sync_run,
            source_id=sync_run.source_id,
            succeeded=sync_run.status == SyncRun.Status.SUCCEEDED,
        )
        for receiver, answer in answers:
            if isinstance(answer, Exception):
                logger.error(
                    "after sync #%s, %s failed: %s", sync_run.pk, receiver, one_line(answer)
                )

    transaction.on_commit(send)


@transaction.atomic
def _finish(sync_run: SyncRun, worker: _Sync | None, error: str, started: float) -> None:
    counts = worker.counts if worker else {}
    fields: dict[str, Any] = {
        "finished_at": timezone.now(),
        "counts": counts,
        "error": error,
        "phase": "failed" if error else "done",
    }
    if not error:
        fields["checkpoint"] = {}
    moved = _transition(
        sync_run,
        from_states=(SyncRun.Status.RUNNING,),
        to=SyncRun.Status.FAILED if error else SyncRun.Status.SUCCEEDED,
        **fields,
    )
    if not moved:
        return
    if not error:
        SyncRun.objects.filter(pk=sync_run.pk).update(progress_done=sync_run.progress_done)
    _announce_finished(sync_run)
    record(
        action=TrackingAction.SYNC,
        system_actor=SystemActor.SYNC,
        target=sync_run,
        outcome=AuditEvent.Outcome.FAILURE if error else AuditEvent.Outcome.SUCCESS,
        data={
            "source": sync_run.source.name,
            "full": sync_run.full,
            "counts": counts,
            "seconds": round(time.monotonic() - started, 3),
            "error": error,
        },
    )


@transaction.atomic
def sync_fail_to_enqueue(*, sync_run: SyncRun, reason: str) -> None:
    if _transition(
        sync_run,
        from_states=(SyncRun.Status.QUEUED,),
        to=SyncRun.Status.FAILED,
        finished_at=timezone.now(),
        error=reason,
        phase="failed",
    ):
        record(
            action=TrackingAction.SYNC,
            system_actor=SystemActor.SYSTEM,
            target=sync_run,
            outcome=AuditEvent.Outcome.FAILURE,
            data={"source": sync_run.source.name, "error": reason},
        )
