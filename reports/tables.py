"""The runs table with each run's current verdict. Every cell renders escaped:
names and tags are synced from servers anyone with an MLflow login can write to."""

from __future__ import annotations

from typing import Any

import django_tables2 as tables
from django.utils.html import format_html, format_html_join

from kernel.tables import DATETIME, EMPTY, PlainRowsTable, datetime_text, text
from reports.selectors.common import RISK_LABELS, VERDICT_LABELS
from reports.selectors.runs import failed_rule_ids
from tracking.models import Run

TABLE_ATTRS = {"class": "usa-table usa-table--compact usa-table--striped width-full"}
TEMPLATE = "includes/table.html"

VERDICT_CLASSES = {
    "compliant": "bg-success-dark",
    "non_compliant": "bg-secondary-dark",
    "error": "bg-base-darker",
    "none": "bg-base-dark",
}
RISK_CLASSES = {
    "none": "bg-success-dark",
    "low": "bg-primary",
    "medium": "bg-accent-warm-darker",
    "high": "bg-secondary-dark",
    "critical": "bg-secondary-darker",
}


def verdict_tag(verdict: str | None) -> str:
    key = verdict or "none"
    return format_html(
        '<span class="usa-tag {}">{}</span>', VERDICT_CLASSES.get(key, ""), VERDICT_LABELS[key]
    )


def risk_tag(risk: str | None) -> str:
    if not risk:
        return EMPTY
    return format_html(
        '<span class="usa-tag {}">{}</span>', RISK_CLASSES.get(risk, ""), RISK_LABELS[risk]
    )


class ComplianceRunTable(PlainRowsTable):
    """Rows rendered by ``cell_*`` (kernel.tables): the table is read all day and paged
    by keyset over millions of runs."""

    run = tables.Column(
        verbose_name="Run", empty_values=(), order_by=("run_name", "run_id"), accessor="run_name"
    )
    experiment = tables.Column(
        verbose_name="Experiment",
        accessor="experiment__name",
        order_by=("experiment__name", "id"),
        attrs={"td": {"class": "govdash-wrap"}},
    )
    source = tables.Column(
        verbose_name="Source", accessor="source__name", order_by=("source__name", "id")
    )
    classification = tables.Column(
        order_by=("classification", "id"), attrs={"td": {"class": "govdash-wrap"}}
    )
    start_time = tables.DateTimeColumn(format=DATETIME, verbose_name="Started (UTC)")
    verdict = tables.Column(empty_values=(), order_by=("verdict_rank", "id"))
    risk = tables.Column(empty_values=(), order_by=("risk_rank", "score_rank", "id"))
    score = tables.Column(empty_values=(), order_by=("score_rank", "id"))
    failed = tables.Column(verbose_name="Failed rules", empty_values=(), orderable=False)
    assessed_at = tables.DateTimeColumn(
        format=DATETIME,
        verbose_name="Assessed (UTC)",
        order_by=("assessed_rank", "id"),
    )
    version_number = tables.Column(verbose_name="Policy version", empty_values=())

    class Meta:
        model = Run
        fields = (
            "run",
            "experiment",
            "source",
            "classification",
            "start_time",
            "verdict",
            "risk",
            "score",
            "failed",
            "assessed_at",
            "version_number",
        )
        template_name = TEMPLATE
        attrs = TABLE_ATTRS
        empty_text = "No runs match these filters."

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failed_map: dict[int, list[str]] = {}

    def load_failed_rules(self) -> None:
        """After pagination: the failed rules of the rows on this page, in one query."""
        rows = list(self.page.object_list) if getattr(self, "page", None) else []
        self.failed_map = failed_rule_ids(row.record.assessment_id for row in rows)

    def cell_run(self, record: Run) -> str:
        name = record.run_name or record.run_id
        return format_html(
            '<a href="{}">{}</a><br><span class="govdash-mono font-body-3xs">{}</span>',
            record.get_absolute_url(),
            name,
            record.run_id,
        )

    def cell_experiment(self, record: Run) -> str:
        return text(record.experiment.name)

    def cell_source(self, record: Run) -> str:
        return text(record.source.name)

    def cell_classification(self, record: Run) -> str:
        return text(record.classification)

    def cell_start_time(self, record: Run) -> str:
        return datetime_text(record.start_time, DATETIME)

    def cell_verdict(self, record: Run) -> str:
        return verdict_tag(record.verdict)  # type: ignore[attr-defined]

    def cell_risk(self, record: Run) -> str:
        return risk_tag(record.risk)  # type: ignore[attr-defined]

    def cell_score(self, record: Run) -> str:
        score = record.score  # type: ignore[attr-defined]
        return EMPTY if score is None else str(score)

    def cell_failed(self, record: Run) -> str:
        rules = self.failed_map.get(record.assessment_id or 0, [])  # type: ignore[attr-defined]
        if not rules:
            return EMPTY
        return format_html_join(", ", '<span class="govdash-mono">{}</span>', ((r,) for r in rules))

    def cell_assessed_at(self, record: Run) -> str:
        return datetime_text(record.assessed_at, DATETIME)  # type: ignore[attr-defined]

    def cell_version_number(self, record: Run) -> str:
        number = record.version_number  # type: ignore[attr-defined]
        return EMPTY if number is None else f"v{number}"
