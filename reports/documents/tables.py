from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from reports.models import Report


class ReportTable(tables.Table):
    id = tables.Column(verbose_name="#")
    title = tables.Column(verbose_name="Report", empty_values=())
    kind = tables.Column()
    status = tables.Column()
    requested_by = tables.Column(verbose_name="Requested by", empty_values=(), orderable=False)
    created_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name="Requested (UTC)")
    size = tables.Column(verbose_name="Size (bytes)")
    pages = tables.Column()
    sha256 = tables.Column(verbose_name="SHA-256", orderable=False)
    signed = tables.Column(verbose_name="Signature", empty_values=(), orderable=False)
    download = tables.Column(empty_values=(), orderable=False, verbose_name="Download")

    class Meta:
        model = Report
        fields = (
            "id",
            "title",
            "kind",
            "status",
            "requested_by",
            "created_at",
            "size",
            "pages",
            "sha256",
            "signed",
            "download",
        )
        order_by = "-id"
        attrs = {"class": "usa-table usa-table--compact usa-table--striped width-full"}

    def render_title(self, record: Report) -> str:
        return format_html('<a href="{}">{}</a>', record.get_absolute_url(), record.title)

    def render_requested_by(self, record: Report) -> str:
        return record.requester_name or "—"

    def render_sha256(self, value: str) -> str:
        return format_html('<code title="{}">{}…</code>', value, value[:12]) if value else "—"

    def render_signed(self, record: Report) -> str:
        if record.status != Report.Status.DONE:
            return "—"
        if not record.signed:
            return "not signed"
        return f"signed (PAdES), {'timestamped' if record.timestamped else 'no timestamp'}"

    def render_download(self, record: Report) -> str:
        if record.status != Report.Status.DONE:
            return "—"
        return format_html(
            '<a href="{}">PDF</a> · <a href="{}">CSV</a>',
            reverse("reports:report-download", args=[record.pk]),
            reverse("reports:report-csv", args=[record.pk]),
        )
