"""What compliance adds to lower layers' pages, through the kernel's registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse

from kernel.registry import Action, Panel, register_action, register_panel
from reports.permissions import REQUEST_DOSSIER, REQUEST_REPORT
from reports.selectors.run_panel import run_compliance
from tracking.models import Experiment, ModelVersion, Run


def _run_panel_context(request: HttpRequest, run: Run) -> Mapping[str, Any]:
    return {"compliance": run_compliance(run)}


register_panel(
    Panel(
        slot="tracking.run",
        key="compliance",
        template="reports/includes/run_compliance.html",
        context=_run_panel_context,
    )
)


# --------------------------------------------------------------------------- report actions


def _request_url(**params: str) -> str:
    return reverse("reports:report-request") + "?" + urlencode(params)


def _experiment_report_url(experiment: Experiment) -> str:
    return _request_url(
        kind="experiment", source=experiment.source.name, experiment=experiment.name
    )


def _dossier_url(version: ModelVersion) -> str:
    return _request_url(
        kind="model-version",
        source=version.model.source.name,
        model=version.model.name,
        version=version.version,
    )


register_action(
    Action(
        slot="tracking.experiment",
        key="generate-report",
        label="Generate compliance report (PDF)",
        url=_experiment_report_url,
        permission=REQUEST_REPORT,
    )
)
register_action(
    Action(
        slot="tracking.version",
        key="generate-dossier",
        label="Generate dossier (PDF)",
        url=_dossier_url,
        permission=REQUEST_DOSSIER,
    )
)
register_action(
    Action(
        slot="audit.log",
        key="generate-audit-extract",
        label="Generate audit extract (PDF)",
        url=lambda _: _request_url(kind="audit"),
        permission=REQUEST_REPORT,
    )
)
