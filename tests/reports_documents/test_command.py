"""``manage.py report ...``: a real subprocess against the test database."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from reports.models import Report
from tests.reports_documents.conftest import pdf_text

pytestmark = pytest.mark.django_db(transaction=True)


def _run(args, env):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "manage.py", "report", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_command_writes_the_checked_pdf_and_fails_in_one_line(
    subprocess_env, default_policy, report_storage_dir, tmp_path
):
    from tests.reports_pages.conftest import build

    mirror = build(default_policy)
    env = {**subprocess_env, "GOVDASH_MEDIA_ROOT": str(tmp_path / "media")}
    out = tmp_path / "credit.pdf"
    experiment = mirror.experiments["risk"]
    done = _run(
        ["experiment", "--source", "alpha", "--experiment", experiment.name, "--out", str(out)],
        env,
    )
    assert done.returncode == 0, done.stderr
    report = Report.objects.get()
    assert done.stdout.strip().endswith(report.sha256)
    assert "100%" not in done.stderr  # progress lines, not a bar drawn past the end
    assert "rendering" in done.stderr
    assert hashlib.sha256(out.read_bytes()).hexdigest() == report.sha256
    assert "Compliance report: credit" in pdf_text(out.read_bytes())
    assert report.requested_by_system == "command"

    missing = _run(
        [
            "model-version",
            "--source",
            "alpha",
            "--model",
            "nope",
            "--version",
            "1",
            "--out",
            str(tmp_path / "x.pdf"),
        ],
        env,
    )
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0
    assert "no version 1 of model 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_date = _run(["audit", "--since", "yesterday", "--out", str(tmp_path / "a.pdf")], env)
    assert bad_date.returncode == 1
    assert "since" in bad_date.stderr
    assert "Traceback" not in bad_date.stderr
    assert not (tmp_path / "x.pdf").exists()
