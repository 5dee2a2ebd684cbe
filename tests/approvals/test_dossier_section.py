"""The approvals section of the model version dossier (issue 9's slot
``reports.dossier``): a real PDF whose text shows the approval chain and whose
attached evidence (covered by the report's hash) holds the same data."""

from __future__ import annotations

from typing import Any

import pytest

from approvals.services import promotion_delivered, promotion_vote
from reports.models import Report
from tests.approvals.conftest import World
from tests.reports_documents.conftest import (  # reports stored in the test's own directory
    attached_evidence,
    generate,
    pdf_text,
    report_storage_dir,  # noqa: F401  (autouse fixture)
    stored_pdf,
)

pytestmark = pytest.mark.django_db


def test_the_dossier_shows_every_vote_gate_and_snapshot_hash(world: World, ask: Any) -> None:
    request = ask("staging")
    promotion_vote(
        actor=world.reviewers[0], request_id=request.pk, decision="approve", comment="Fine <b>!"
    )
    promotion_delivered(request_id=request.pk, succeeded=True, detail="alias set")

    report = generate(
        "model-version",
        {"source": world.source.name, "model": world.model.name, "version": "1"},
        world.officer,
    )
    assert report.status == Report.Status.DONE, report.error
    pdf = stored_pdf(report)
    text = pdf_text(pdf)
    assert f"Request #{request.pk}: promotion to staging" in text
    assert "reviewer1" in text
    assert "Fine <b>!" in text  # escaped: shown as text
    assert request.snapshot_sha256 in text.replace("\n", "")

    section = attached_evidence(pdf)["sections"]["approvals"]
    assert [row["environment"] for row in section["gate_now"]] == ["staging", "production"]
    assert section["gate_now"][0]["approved"] is True
    assert section["gate_now"][1]["approved"] is False
    (item,) = section["requests"]
    assert item["status"] == "approved"
    assert item["promotion"] == "done"
    assert item["snapshot_sha256"] == request.snapshot_sha256
    assert [(v["user"], v["decision"], v["comment"]) for v in item["votes"]] == [
        ("reviewer1", "approve", "Fine <b>!")
    ]
