from __future__ import annotations

import datetime as dt

from django import forms

from kernel.forms import UswdsForm
from reports.models import Report


class ReportRequestForm(UswdsForm):
    """What to report on; the service checks it against the mirror."""

    kind = forms.ChoiceField(choices=Report.Kind.choices, widget=forms.HiddenInput)
    source = forms.CharField(max_length=63, required=False)
    experiment = forms.CharField(max_length=500, required=False)
    policy = forms.SlugField(max_length=80, required=False, help_text="Empty: the default policy")
    model = forms.CharField(max_length=500, required=False)
    version = forms.CharField(max_length=64, required=False)
    since = forms.DateField(
        required=False, label="From (UTC date)", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="Until (UTC date)", widget=forms.DateInput(attrs={"type": "date"})
    )

    FIELDS_BY_KIND = {
        Report.Kind.EXPERIMENT: ("source", "experiment", "policy"),
        Report.Kind.MODEL_VERSION: ("source", "model", "version"),
        Report.Kind.AUDIT: ("since", "until"),
    }

    def visible_fields_for(self, kind: str) -> list[forms.BoundField]:
        names = self.FIELDS_BY_KIND.get(Report.Kind(kind), ()) if kind in Report.Kind else ()
        return [self[name] for name in names]

    def parameters(self) -> dict[str, str]:
        kind = self.cleaned_data["kind"]
        values = {}
        for name in self.FIELDS_BY_KIND[Report.Kind(kind)]:
            value = self.cleaned_data.get(name)
            if isinstance(value, dt.date):
                values[name] = value.isoformat()
            else:
                values[name] = str(value or "")
        return values
