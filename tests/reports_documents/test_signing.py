"""PAdES signatures: validated with pyHanko against the signer's root, and
broken by a changed byte."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from govdash.demo.signing import self_signed_p12
from reports.models import Report
from tests.reports_documents.conftest import generate, pdf_text, stored_pdf

pytestmark = pytest.mark.django_db


def _validate(pdf: bytes, root_der: bytes):  # type: ignore[no-untyped-def]
    root = asn1_x509.Certificate.load(root_der)
    reader = PdfFileReader(io.BytesIO(pdf))
    (signature,) = reader.embedded_signatures
    return validate_pdf_signature(signature, ValidationContext(trust_roots=[root]))


def _risk_report(compliance_mirror, user) -> Report:  # type: ignore[no-untyped-def]
    """A new compliance report of the mirror's "risk" experiment, generated now."""
    experiment = compliance_mirror.experiments["risk"]
    return generate(
        "experiment", {"source": experiment.source.name, "experiment": experiment.name}, user
    )


@pytest.fixture
def signing_certificate(settings, tmp_path) -> bytes:
    path = tmp_path / "signer.p12"
    root = self_signed_p12(path, "s3cret-pass")
    settings.REPORT_SIGNING_P12 = str(path)
    settings.REPORT_SIGNING_P12_PASSWORD = "s3cret-pass"
    return root


def test_signed_report_validates_and_a_changed_byte_breaks_it(
    compliance_mirror, make_user, signing_certificate, tmp_path
):
    report = _risk_report(compliance_mirror, make_user("officer", "compliance-officer"))
    assert report.status == Report.Status.DONE, report.error
    assert report.signed
    pdf = stored_pdf(report)
    assert "Signed (PAdES)" in pdf_text(pdf)
    status = _validate(pdf, signing_certificate)
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.bottom_line

    # A byte inside the signed range (the first page's content), changed.
    position = pdf.index(b"stream", len(pdf) // 4) + 20
    tampered = bytearray(pdf)
    tampered[position] ^= 0x01
    broken = _validate(bytes(tampered), signing_certificate)
    assert not broken.intact
    assert not broken.bottom_line

    # Signed by someone else's root: intact, but not trusted.
    other_root = self_signed_p12(tmp_path / "other.p12", "x")
    assert not _validate(pdf, other_root).trusted


def test_wrong_password_fails_the_report_cleanly(compliance_mirror, make_user, settings, tmp_path):
    path = tmp_path / "signer.p12"
    self_signed_p12(path, "right")
    settings.REPORT_SIGNING_P12 = str(path)
    settings.REPORT_SIGNING_P12_PASSWORD = "wrong"
    report = _risk_report(compliance_mirror, make_user("officer", "compliance-officer"))
    assert report.status == Report.Status.FAILED
    assert report.file_name == ""
    assert "GOVDASH_SIGNING_P12" in report.error


def test_a_replaced_certificate_signs_the_next_report_without_a_restart(
    compliance_mirror, make_user, signing_certificate, settings
):
    # The opened bundle is kept per process (reports.documents.signing._signer), and
    # opened again when its file changes: a rotated certificate needs no restart.
    officer = make_user("officer", "compliance-officer")
    first = _risk_report(compliance_mirror, officer)
    assert _validate(stored_pdf(first), signing_certificate).trusted

    new_root = self_signed_p12(Path(settings.REPORT_SIGNING_P12), "n3w-pass")
    settings.REPORT_SIGNING_P12_PASSWORD = "n3w-pass"
    second = _risk_report(compliance_mirror, officer)
    assert second.status == Report.Status.DONE, second.error
    assert _validate(stored_pdf(second), new_root).trusted
    assert not _validate(stored_pdf(second), signing_certificate).trusted

    # The same file with the old password again: refused, not answered from memory.
    settings.REPORT_SIGNING_P12_PASSWORD = "s3cret-pass"
    third = _risk_report(compliance_mirror, officer)
    assert third.status == Report.Status.FAILED
    assert "GOVDASH_SIGNING_P12" in third.error


def test_a_worker_whose_certificate_cannot_be_opened_still_starts_and_fails_each_report(
    compliance_mirror, make_user, settings, tmp_path, monkeypatch
):
    # The warm-up before a worker's first job (render.preload) signs a one-page PDF:
    # a bad bundle must not stop the worker there; each report fails with the reason.
    from reports.documents import render

    settings.REPORT_SIGNING_P12 = str(tmp_path / "missing.p12")
    settings.REPORT_SIGNING_P12_PASSWORD = "x"
    monkeypatch.setattr(render, "_warm", False)
    render.preload()
    assert render._warm

    report = _risk_report(compliance_mirror, make_user("officer", "compliance-officer"))
    assert report.status == Report.Status.FAILED
    assert report.error.endswith(f"GOVDASH_SIGNING_P12: no file at {tmp_path / 'missing.p12'}")
    assert report.file_name == ""
