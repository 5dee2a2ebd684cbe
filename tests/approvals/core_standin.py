"""STAND-IN for CORE's ``approvals.services.promotion_delivered`` (branch h-appcore), used
only while that module is not on this branch. Once it is, tests/approvals/conftest.py stops
installing this and the real function runs. Delete this file then.

The interface (docs: /work/notes/approvals-spec.md): pending -> done (promoted_at set) or
-> failed, with the detail; the request's status never changes.
"""

from __future__ import annotations

from django.utils import timezone

from approvals.models import PromotionRequest


def promotion_delivered(*, request_id: int, succeeded: bool, detail: str) -> PromotionRequest:
    Promotion = PromotionRequest.Promotion
    changes = {
        "promotion": Promotion.DONE if succeeded else Promotion.FAILED,
        "promotion_detail": detail,
    }
    if succeeded:
        changes["promoted_at"] = timezone.now()
    PromotionRequest.objects.filter(pk=request_id, promotion=Promotion.PENDING).update(**changes)
    return PromotionRequest.objects.get(pk=request_id)
