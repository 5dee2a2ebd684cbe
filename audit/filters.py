from __future__ import annotations

import django_filters
from django import forms

from audit.models import AuditEvent
from kernel.forms import style_uswds


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(lookup_expr="startswith", label="Action starts with")
    actor = django_filters.CharFilter(field_name="actor_username", label="Actor")
    target_type = django_filters.CharFilter(label="Target type")
    target_id = django_filters.CharFilter(label="Target id")
    outcome = django_filters.ChoiceFilter(choices=AuditEvent.Outcome.choices)
    since = django_filters.DateFilter(
        field_name="timestamp",
        lookup_expr="date__gte",
        label="From (UTC date)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = django_filters.DateFilter(
        field_name="timestamp",
        lookup_expr="date__lte",
        label="Until (UTC date)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        style_uswds(self.form)

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "outcome", "target_type", "target_id", "since", "until"]
