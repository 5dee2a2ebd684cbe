"""Reports stored in S3-compatible object storage (django-storages), against a
real local S3 server (moto's server mode, in its own process)."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import boto3
import pytest
import requests

from reports.documents.services import ReportTampered, report_download
from reports.models import Report
from tests.reports_documents.conftest import generate, pdf_text

pytestmark = pytest.mark.django_db

BUCKET = "govdash-reports"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                requests.get(url, timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            pytest.fail("the local S3 server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def s3_reports(s3_server, settings, monkeypatch):  # type: ignore[no-untyped-def]
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_server)
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "reports": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_server,
                "location": "reports",
                "file_overwrite": False,
                "default_acl": None,
            },
        },
    }
    return client


def test_reports_are_stored_in_s3_checked_and_tamper_refused(
    compliance_mirror, make_user, s3_reports
):
    officer = make_user("officer", "compliance-officer")
    experiment = compliance_mirror.experiments["risk"]
    report = generate(
        "experiment", {"source": experiment.source.name, "experiment": experiment.name}, officer
    )
    assert report.status == Report.Status.DONE, report.error
    key = f"reports/{report.file_name}"
    stored = s3_reports.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == report.sha256
    pdf = report_download(report=report, actor=officer)
    assert pdf == stored
    assert "Compliance report: credit" in pdf_text(pdf)

    s3_reports.put_object(Bucket=BUCKET, Key=key, Body=stored[:-10] + b"0000000000")
    with pytest.raises(ReportTampered):
        report_download(report=report, actor=officer)
