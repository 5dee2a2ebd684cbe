"""What the workflow adds to the model version page, through the kernel's registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from approvals.permissions import REQUEST_PROMOTION
from approvals.selectors import dossier_approvals, version_promotions
from kernel.registry import Action, Panel, register_action, register_panel
from tracking.models import ModelVersion


def _promotions_context(request: HttpRequest, version: ModelVersion) -> Mapping[str, Any]:
    return {"promotions": version_promotions(version)}


register_panel(
    Panel(
        slot="tracking.version",
        key="promotions",
        template="approvals/includes/version_promotions.html",
        context=_promotions_context,
        order=50,
    )
)

register_action(
    Action(
        slot="tracking.version",
        key="request-promotion",
        label="Request promotion",
        url=lambda version: reverse("approvals:new", args=[version.model_id, version.version]),
        permission=REQUEST_PROMOTION,
        order=10,
    )
)

# The dossier's approvals section (reports/documents): its data joins the report's
# evidence, so the PDF's hash and attachment cover the approval chain.
register_panel(
    Panel(
        slot="reports.dossier",
        key="approvals",
        template="approvals/includes/dossier_approvals.html",
        context=lambda request, version: {},
        data=dossier_approvals,
    )
)
