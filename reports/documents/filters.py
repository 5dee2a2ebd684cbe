from __future__ import annotations

import django_filters
from django import forms

from kernel.forms import style_uswds
from reports.models import Report


class ReportFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Report.Kind.choices)
    status = django_filters.ChoiceFilter(choices=Report.Status.choices)
    requester = django_filters.CharFilter(field_name="requested_by__username", label="Requested by")
    experiment = django_filters.CharFilter(
        field_name="parameters__experiment", lookup_expr="icontains", label="Experiment"
    )
    model = django_filters.CharFilter(
        field_name="parameters__model", lookup_expr="icontains", label="Model"
    )
    since = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__gte",
        label="From (UTC date)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__lte",
        label="Until (UTC date)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        style_uswds(self.form)

    class Meta:
        model = Report
        fields = ["kind", "status", "requester", "experiment", "model", "since", "until"]
