"""The promotion requests table. Model names and versions come from tracking
servers: every cell renders escaped."""

from __future__ import annotations

import django_tables2 as tables

from approvals.models import PromotionRequest

TABLE_ATTRS = {"class": "usa-table usa-table--compact usa-table--striped width-full"}
DATETIME = "Y-m-d H:i"


class PromotionRequestTable(tables.Table):
    id = tables.Column(verbose_name="#", linkify=True, order_by=("id",))
    model = tables.Column(
        accessor="version__model__name", verbose_name="Model", order_by=("version__model__name",)
    )
    version = tables.Column(accessor="version__version", verbose_name="Version", orderable=False)
    source = tables.Column(
        accessor="version__model__source__name", verbose_name="Source", orderable=False
    )
    environment = tables.Column(accessor="environment__name", verbose_name="Environment")
    rollback = tables.BooleanColumn(verbose_name="Rollback", yesno="yes,")
    status = tables.Column(verbose_name="Status")
    promotion = tables.Column(verbose_name="Promotion")
    requested_by = tables.Column(
        accessor="requested_by__username", verbose_name="Requested by", orderable=False
    )
    created_at = tables.DateTimeColumn(format=DATETIME, verbose_name="Requested (UTC)")

    class Meta:
        model = PromotionRequest
        fields = (
            "id",
            "model",
            "version",
            "source",
            "environment",
            "rollback",
            "status",
            "promotion",
            "requested_by",
            "created_at",
        )
        attrs = TABLE_ATTRS
        template_name = "includes/table.html"
        order_by = ("-created_at",)
        empty_text = "No promotion requests match."

    def render_status(self, record: PromotionRequest) -> str:
        return record.get_status_display()

    def render_promotion(self, record: PromotionRequest) -> str:
        return record.get_promotion_display()
