"""What compliance adds to lower layers' pages, through the kernel's registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from kernel.registry import Panel, register_panel
from reports.selectors.run_panel import run_compliance
from tracking.models import Run


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
