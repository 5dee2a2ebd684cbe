from __future__ import annotations

import django_tables2 as tables

from audit.models import AuditEvent


class AuditEventTable(tables.Table):
    sequence = tables.Column(verbose_name="#")
    timestamp = tables.DateTimeColumn(format="Y-m-d H:i:s e", verbose_name="Time (UTC)")
    actor_username = tables.Column(verbose_name="Actor", empty_values=(), default="system")
    actor_role = tables.Column(verbose_name="Role")
    target = tables.Column(empty_values=(), orderable=False)
    hash = tables.Column(verbose_name="Hash", orderable=False)

    class Meta:
        model = AuditEvent
        fields = (
            "sequence",
            "timestamp",
            "actor_username",
            "actor_role",
            "action",
            "target",
            "outcome",
            "remote_addr",
            "hash",
        )
        order_by = "-sequence"
        attrs = {"class": "usa-table usa-table--compact usa-table--striped width-full"}

    def render_actor_username(self, value: str) -> str:
        return value or "system"

    def render_target(self, record: AuditEvent) -> str:
        if not record.target_type:
            return "—"
        return f"{record.target_type} {record.target_id}"

    def render_hash(self, value: str) -> str:
        return value[:12] + "…"
