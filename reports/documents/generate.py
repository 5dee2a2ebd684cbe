"""The generation of one report: content, HTML, PDF/A, signature, storage.

Run by the job (``reports.documents.jobs``) or in the foreground by
``manage.py report``. Every failure ends the report as failed with a one-line
reason; files are stored only once the whole signed PDF exists, and removed
again if the report cannot be marked done.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable

from django.conf import settings
from django.core.files.base import ContentFile
from django.template.loader import render_to_string
from django.utils import timezone

from kernel.errors import one_line
from reports.documents.assets import asset_url
from reports.documents.content import Content, build_content
from reports.documents.render import AttachmentFile, render_pdf
from reports.documents.services import (
    report_claim,
    report_fail,
    report_finish,
    report_progress,
)
from reports.documents.signing import sign_pdf, signing_configured, timestamping_configured
from reports.documents.storage import report_storage
from reports.models import Report

Progress = Callable[[str, int], None]


def report_html(
    report: Report, content: Content, *, evidence_sha256: str, generated_at: str
) -> str:
    context = {
        **content.context,
        "report": report,
        "title": content.title,
        "generated_at": generated_at,
        "evidence_sha256": evidence_sha256,
        "will_sign": signing_configured(),
        "will_timestamp": timestamping_configured(),
        "stylesheet": asset_url("report.css"),
    }
    return render_to_string(content.template, context)


def generate_report(report: Report, *, on_progress: Progress | None = None) -> Report:
    """Generate ``report`` if it is still queued; returns it refreshed."""
    if not report_claim(report):
        report.refresh_from_db()
        return report

    def step(phase: str, percent: int) -> None:
        report_progress(report, phase=phase, progress=percent)
        if on_progress is not None:
            on_progress(phase, percent)

    stored: list[str] = []
    try:
        step("collecting evidence", 10)
        content = build_content(report)
        evidence = content.evidence_bytes()
        evidence_sha = hashlib.sha256(evidence).hexdigest()
        csv_bytes = content.csv_bytes()
        generated_at = timezone.now().strftime("%Y-%m-%d %H:%M:%S UTC")
        html = report_html(report, content, evidence_sha256=evidence_sha, generated_at=generated_at)
        step("rendering", 30)
        rendered = render_pdf(
            html,
            [
                AttachmentFile(
                    "evidence.json", evidence, "Everything this report was built from (JSON)"
                ),
                AttachmentFile("findings.csv", csv_bytes, "The findings, one row each (CSV)"),
            ],
            timeout=float(settings.REPORT_TIMEOUT_SECONDS),
            memory_mb=settings.REPORT_MEMORY_MB,
        )
        pdf = rendered.pdf
        signed = timestamped = False
        if signing_configured():
            step("signing", 85)
            pdf = sign_pdf(pdf, reason=f"govdash report {report.pk}")
            signed, timestamped = True, timestamping_configured()
        step("storing", 92)
        storage = report_storage()
        pdf_name = storage.save(f"{report.pk}/report-{report.pk}.pdf", ContentFile(pdf))
        stored.append(pdf_name)
        csv_name = storage.save(f"{report.pk}/report-{report.pk}.csv", ContentFile(csv_bytes))
        stored.append(csv_name)
        done = report_finish(
            report,
            file_name=pdf_name,
            csv_name=csv_name,
            sha256=hashlib.sha256(pdf).hexdigest(),
            csv_sha256=hashlib.sha256(csv_bytes).hexdigest(),
            size=len(pdf),
            pages=rendered.pages,
            evidence_sha256=evidence_sha,
            signed=signed,
            timestamped=timestamped,
            refused_urls=rendered.refused,
            policy_version_id=content.policy_version.pk if content.policy_version else None,
        )
        if not done:
            raise RuntimeError("the report was finished by someone else meanwhile")
    except Exception as exc:
        for name in stored:
            with contextlib.suppress(Exception):  # best effort; the report fails anyway
                report_storage().delete(name)
        report_fail(report, error=one_line(exc))
    report.refresh_from_db()
    return report
