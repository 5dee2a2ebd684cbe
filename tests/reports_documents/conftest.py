"""PDF reports: rendered for real, read back with pypdf."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from tests.reports_pages.conftest import ComplianceMirror, build


@pytest.fixture(autouse=True)
def report_storage_dir(settings: Any, tmp_path: Path) -> Path:
    """Reports go to a directory of the test's own."""
    location = tmp_path / "reports-storage"
    settings.STORAGES = {
        **settings.STORAGES,
        "reports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location), "base_url": None},
        },
    }
    settings.REPORT_SIGNING_P12 = ""
    return location


@pytest.fixture
def compliance_mirror(default_policy: Any) -> ComplianceMirror:
    return build(default_policy)


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def pdf_attachments(pdf: bytes) -> dict[str, bytes]:
    reader = PdfReader(io.BytesIO(pdf))
    return {name: contents[0] for name, contents in reader.attachments.items()}


def attached_evidence(pdf: bytes) -> dict[str, Any]:
    return json.loads(pdf_attachments(pdf)["evidence.json"])


def generate(kind: str, parameters: dict[str, Any], actor: Any) -> Any:
    """Request a report as ``actor`` and generate it now, in this process."""
    from reports.documents.generate import generate_report
    from reports.documents.services import report_request

    report = report_request(kind=kind, parameters=parameters, actor=actor)
    return generate_report(report)


def stored_pdf(report: Any) -> bytes:
    from reports.documents.storage import report_storage

    with report_storage().open(report.file_name, "rb") as handle:
        return bytes(handle.read())
