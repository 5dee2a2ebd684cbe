"""Every write of ``Report`` rows: request, progress, finish, fail, download.

Keyword-only, audited in the same transaction, state changes by
compare-and-swap on ``status``. A report is never regenerated in place and
never deleted.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audit.actors import SystemActor
from audit.models import AuditEvent
from audit.services import record
from kernel.errors import Conflict
from reports.audit_actions import ReportsAction
from reports.documents.content import (
    find_experiment,
    find_model_version,
    find_policy,
    parse_day,
)
from reports.documents.storage import report_storage
from reports.models import Report
from reports.permissions import may_request_report

User = AbstractBaseUser | AnonymousUser


class ReportTampered(Conflict):
    """The stored file no longer matches the SHA-256 recorded when it was generated."""


def _text(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or str(value).strip() == "":
        raise ValidationError({name: ["This field is required."]})
    return str(value).strip()


def clean_parameters(kind: str, params: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The stored parameters of a request, checked against the mirror, and a title."""
    if kind == Report.Kind.EXPERIMENT:
        source, name = _text(params, "source"), _text(params, "experiment")
        experiment = find_experiment(source, name)
        policy = find_policy(params.get("policy") or None)
        cleaned = {
            "source": source,
            "experiment": name,
            "experiment_pk": experiment.pk,
            "policy": policy.slug,
        }
        return cleaned, f"Compliance report: {experiment.name}"
    if kind == Report.Kind.MODEL_VERSION:
        source, model, version = (
            _text(params, "source"),
            _text(params, "model"),
            _text(params, "version"),
        )
        found = find_model_version(source, model, version)
        cleaned = {"source": source, "model": model, "version": version, "version_pk": found.pk}
        return cleaned, f"Model version dossier: {model} v{version}"
    if kind == Report.Kind.AUDIT:
        try:
            since = parse_day(params.get("since"), "since")
            until = parse_day(params.get("until"), "until")
        except ValueError as exc:
            name = str(exc).partition(":")[0]
            raise ValidationError({name: [str(exc).partition(": ")[2]]}) from None
        if since and until and since > until:
            raise ValidationError({"until": ["must not be before since"]})
        cleaned = {
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        }
        return cleaned, f"Audit extract: {since or 'start'} to {until or 'now'}"
    raise ValidationError({"kind": [f"unknown report kind {str(kind)[:40]!r}"]})


def report_request(
    *,
    kind: str,
    parameters: dict[str, Any],
    actor: User | None = None,
    system_actor: SystemActor | None = None,
) -> Report:
    """Record a request for a report (audited). Queueing its job is the caller's
    (``reports.documents.jobs.queue_report``), after this commits. A refusal is
    audited too (its event commits; nothing else is recorded)."""
    if actor is not None and not may_request_report(actor, kind):
        with transaction.atomic():
            record(
                action=ReportsAction.REPORT_REQUEST,
                actor=actor,
                outcome=AuditEvent.Outcome.DENIED,
                data={"kind": str(kind)[:40]},
            )
        raise PermissionDenied(f"You may not request {str(kind)[:40]} reports.")
    return _report_create(kind=kind, parameters=parameters, actor=actor, system_actor=system_actor)


@transaction.atomic
def _report_create(
    *,
    kind: str,
    parameters: dict[str, Any],
    actor: User | None,
    system_actor: SystemActor | None,
) -> Report:
    cleaned, title = clean_parameters(kind, parameters)
    user: Any = actor if actor is not None and actor.is_authenticated else None
    report = Report.objects.create(
        kind=kind,
        parameters=cleaned,
        title=title[:300],
        requested_by=user,
        requested_by_system="" if user else str(system_actor or SystemActor.SYSTEM),
    )
    record(
        action=ReportsAction.REPORT_REQUEST,
        actor=user,
        system_actor=None if user else (system_actor or SystemActor.SYSTEM),
        target=report,
        data={"kind": kind, "parameters": cleaned},
    )
    return report


def report_claim(report: Report) -> bool:
    """queued -> running; False when another worker has it or it is finished."""
    claimed = Report.objects.filter(pk=report.pk, status=Report.Status.QUEUED).update(
        status=Report.Status.RUNNING, started_at=timezone.now(), phase="starting", progress=1
    )
    return claimed == 1


def report_progress(report: Report, *, phase: str, progress: int) -> None:
    Report.objects.filter(pk=report.pk, status=Report.Status.RUNNING).update(
        phase=phase[:40], progress=max(0, min(progress, 99))
    )


def report_job_queued(report: Report, *, job_id: str) -> None:
    # Not once it has ended (an inline or quick job may finish first): a
    # finished report is never altered (reports/migrations/0006_report_immutable.py).
    Report.objects.filter(
        pk=report.pk, status__in=[Report.Status.QUEUED, Report.Status.RUNNING]
    ).update(job_id=job_id[:64])


@transaction.atomic
def report_finish(
    report: Report,
    *,
    file_name: str,
    csv_name: str,
    sha256: str,
    csv_sha256: str,
    size: int,
    pages: int,
    evidence_sha256: str,
    signed: bool,
    timestamped: bool,
    refused_urls: list[str],
    policy_version_id: int | None,
) -> bool:
    done = Report.objects.filter(pk=report.pk, status=Report.Status.RUNNING).update(
        status=Report.Status.DONE,
        phase="done",
        progress=100,
        file_name=file_name,
        csv_name=csv_name,
        sha256=sha256,
        csv_sha256=csv_sha256,
        size=size,
        pages=pages,
        evidence_sha256=evidence_sha256,
        signed=signed,
        timestamped=timestamped,
        refused_urls=refused_urls[:100],
        policy_version_id=policy_version_id,
        finished_at=timezone.now(),
    )
    if done:
        record(
            action=ReportsAction.REPORT_GENERATE,
            system_actor=SystemActor.SYSTEM,
            target=report,
            data={
                "kind": report.kind,
                "sha256": sha256,
                "csv_sha256": csv_sha256,
                "size": size,
                "pages": pages,
                "evidence_sha256": evidence_sha256,
                "signed": signed,
                "timestamped": timestamped,
                "refused_urls": len(refused_urls),
            },
        )
    return bool(done)


@transaction.atomic
def report_fail(report: Report, *, error: str) -> bool:
    failed = Report.objects.filter(
        pk=report.pk, status__in=[Report.Status.QUEUED, Report.Status.RUNNING]
    ).update(
        status=Report.Status.FAILED,
        phase="failed",
        error=error[:2000],
        finished_at=timezone.now(),
    )
    if failed:
        record(
            action=ReportsAction.REPORT_GENERATE,
            system_actor=SystemActor.SYSTEM,
            target=report,
            outcome=AuditEvent.Outcome.FAILURE,
            data={"kind": report.kind, "error": error[:500]},
        )
    return bool(failed)


def report_download(*, report: Report, actor: User | None, what: str = "pdf") -> bytes:
    """The stored PDF (or its CSV), after checking it against its recorded SHA-256.

    Every download is an audit event; a file that changed is refused with
    ``ReportTampered`` after a failure event is committed.
    """
    if report.status != Report.Status.DONE:
        raise Conflict(f"report {report.pk} is {report.status}, there is nothing to download")
    name, expected = (
        (report.file_name, report.sha256) if what == "pdf" else (report.csv_name, report.csv_sha256)
    )
    user = actor if actor is not None and actor.is_authenticated else None
    who: dict[str, Any] = (
        {"actor": user} if user is not None else {"system_actor": SystemActor.COMMAND}
    )
    try:
        with report_storage().open(name, "rb") as handle:
            content = handle.read()
    except (OSError, ValueError):
        content = None
    actual = hashlib.sha256(content).hexdigest() if content is not None else ""
    if actual != expected:
        reason = "the stored file is missing" if content is None else "the stored file changed"
        with transaction.atomic():
            record(
                action=ReportsAction.REPORT_DOWNLOAD,
                target=report,
                outcome=AuditEvent.Outcome.FAILURE,
                data={
                    "format": what,
                    "expected_sha256": expected,
                    "actual_sha256": actual,
                    "reason": reason,
                },
                **who,
            )
        raise ReportTampered(
            f"report {report.pk}: {reason}; it no longer matches the SHA-256 recorded "
            f"when it was generated ({expected}). Download refused."
        )
    with transaction.atomic():
        record(
            action=ReportsAction.REPORT_DOWNLOAD,
            target=report,
            data={"format": what, "sha256": actual},
            **who,
        )
    assert content is not None
    return content
