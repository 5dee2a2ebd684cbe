"""RFC 3161 timestamps (issue 9): with GOVDASH_REPORT_TSA_URL set, the signature
carries a timestamp from that server, which pyHanko validates against the
timestamp authority's root; a server that gives no timestamp fails the report
with the reason (docs/operations.md, "Timestamps").

The timestamp server is real HTTP on loopback, answering with pyHanko's own
test authority (``DummyTimeStamper``) and a certificate made for the test.
"""

from __future__ import annotations

import datetime as dt
import io
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.test import Client
from django.urls import reverse
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from govdash.demo.signing import self_signed_p12
from reports.models import Report
from tests.reports_documents.conftest import generate, pdf_text, stored_pdf

pytestmark = pytest.mark.django_db


def _tsa_identity() -> tuple[asn1_x509.Certificate, asn1_keys.PrivateKeyInfo]:
    """A self-signed timestamp authority (extended key usage: time stamping only)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "govdash test TSA")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(key, hashes.SHA256())
    )
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return (
        asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER)),
        asn1_keys.PrivateKeyInfo.load(der_key),
    )


class TimestampServer:
    """RFC 3161 over HTTP on loopback; ``requests`` counts what it answered."""

    def __init__(self) -> None:
        self.certificate, key = _tsa_identity()
        stamper = DummyTimeStamper(tsa_cert=self.certificate, tsa_key=key)
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = tsp.TimeStampReq.load(body)
                answer = stamper.request_tsa_response(request).dump()
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tsr"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tsa() -> Iterator[TimestampServer]:
    server = TimestampServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def signer_root(settings: Any, tmp_path: Any) -> bytes:
    path = tmp_path / "signer.p12"
    root = self_signed_p12(path, "s3cret-pass")
    settings.REPORT_SIGNING_P12 = str(path)
    settings.REPORT_SIGNING_P12_PASSWORD = "s3cret-pass"
    return root


def _report(mirror: Any, user: Any) -> Report:
    experiment = mirror.experiments["risk"]
    return generate(  # type: ignore[no-any-return]
        "experiment", {"source": experiment.source.name, "experiment": experiment.name}, user
    )


def test_a_configured_timestamp_server_timestamps_the_signature(
    compliance_mirror, make_user, settings, signer_root, tsa, client: Client
):
    settings.REPORT_TSA_URL = tsa.url
    officer = make_user("officer", "compliance-officer")
    report = _report(compliance_mirror, officer)
    assert report.status == Report.Status.DONE, report.error
    assert (report.signed, report.timestamped) == (True, True)
    assert tsa.requests >= 1  # pyHanko asks once more to size the signature
    pdf = stored_pdf(report)
    assert "with an RFC 3161 timestamp" in pdf_text(pdf)

    (signature,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    status = validate_pdf_signature(
        signature,
        ValidationContext(trust_roots=[asn1_x509.Certificate.load(signer_root)]),
        ts_validation_context=ValidationContext(trust_roots=[tsa.certificate]),
    )
    assert status.bottom_line
    stamp = status.timestamp_validity
    assert stamp is not None
    assert (stamp.intact, stamp.valid, stamp.trusted) == (True, True, True)
    assert abs(stamp.timestamp - report.finished_at) < dt.timedelta(minutes=5)

    # Someone else's timestamp authority is not trusted.
    other, _ = _tsa_identity()
    untrusted = validate_pdf_signature(
        signature,
        ValidationContext(trust_roots=[asn1_x509.Certificate.load(signer_root)]),
        ts_validation_context=ValidationContext(trust_roots=[other]),
    )
    assert untrusted.timestamp_validity is not None
    assert not untrusted.timestamp_validity.trusted

    # The report's page and the reports list say so.
    client.force_login(officer)
    page = client.get(report.get_absolute_url())
    assert b"with an RFC 3161 timestamp" in page.content
    listing = client.get(reverse("reports:list"))
    assert b"signed (PAdES), timestamped" in listing.content


def test_without_a_timestamp_server_the_signature_has_no_timestamp_and_says_so(
    compliance_mirror, make_user, settings, signer_root, client: Client
):
    settings.REPORT_TSA_URL = ""
    officer = make_user("officer", "compliance-officer")
    report = _report(compliance_mirror, officer)
    assert (report.status, report.signed, report.timestamped) == ("done", True, False)
    (signature,) = PdfFileReader(io.BytesIO(stored_pdf(report))).embedded_signatures
    status = validate_pdf_signature(
        signature, ValidationContext(trust_roots=[asn1_x509.Certificate.load(signer_root)])
    )
    assert status.bottom_line
    assert status.timestamp_validity is None
    client.force_login(officer)
    assert b"without a timestamp" in client.get(report.get_absolute_url()).content
    assert b"signed (PAdES), no timestamp" in client.get(reverse("reports:list")).content


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_timestamp_server_that_is_down_fails_the_report_with_the_reason(
    compliance_mirror, make_user, settings, signer_root
):
    settings.REPORT_TSA_URL = f"http://127.0.0.1:{_closed_port()}/tsr"
    report = _report(compliance_mirror, make_user("officer", "compliance-officer"))
    assert report.status == Report.Status.FAILED
    assert "GOVDASH_REPORT_TSA_URL" in report.error
    assert "gave no timestamp" in report.error
    assert (report.file_name, report.sha256, report.timestamped) == ("", "", False)


def test_a_timestamp_server_answering_nonsense_fails_the_report(
    compliance_mirror, make_user, settings, signer_root
):
    # An http server that is not a timestamp server: plain text, not a timestamp reply.
    text = ThreadingHTTPServer(("127.0.0.1", 0), _PlainText)
    threading.Thread(target=text.serve_forever, daemon=True).start()
    try:
        settings.REPORT_TSA_URL = f"http://127.0.0.1:{text.server_address[1]}/"
        report = _report(compliance_mirror, make_user("officer", "compliance-officer"))
    finally:
        text.shutdown()
        text.server_close()
    assert report.status == Report.Status.FAILED
    assert "gave no timestamp" in report.error
    assert report.file_name == ""


class _PlainText(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: Any) -> None:
        pass
