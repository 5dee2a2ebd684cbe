"""Forms of the compliance pages: the filters (shared with the API) and policy edits."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from kernel.forms import UswdsForm, style_uswds
from reports.models import Assessment, Policy
from reports.rules import RISK_LEVELS
from reports.selectors.common import VERDICT_LABELS, ComplianceFilters, FilterChoices
from reports.selectors.policies import default_policy
from reports.services import MAX_POLICY_BYTES
from tracking.models import Experiment, Source


class _ExperimentChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Experiment) -> str:  # type: ignore[override]
        return f"{obj.name} ({obj.source.name})"


class ComplianceFilterForm(UswdsForm):
    """The dashboard's filters. Invalid values are reported and ignored: the
    page still shows the figures for the filters that are valid."""

    policy = forms.ModelChoiceField(
        queryset=Policy.objects.only("id", "slug", "name", "source_names").order_by("name"),
        to_field_name="slug",
        required=False,
        empty_label=None,
    )
    source = forms.ModelChoiceField(
        queryset=Source.objects.only("id", "name").order_by("name"),
        to_field_name="name",
        required=False,
        empty_label="All sources",
    )
    experiment = _ExperimentChoice(
        queryset=Experiment.objects.select_related("source")
        .only("id", "name", "source__id", "source__name")
        .order_by("name", "id"),
        required=False,
        empty_label="All experiments",
    )
    department = forms.ChoiceField(required=False)
    classification = forms.ChoiceField(required=False)
    since = forms.DateField(
        required=False,
        label="Runs started from",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = forms.DateField(
        required=False,
        label="Runs started until",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, data: Any = None, *, choices: FilterChoices, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.choices = choices
        # Read the policies once: a select without an empty choice is otherwise
        # queried twice (once to decide on the "required" attribute).
        policy = self.fields["policy"]
        policy.widget.choices = list(iter(policy.choices))  # type: ignore[attr-defined]
        department = self.fields["department"]
        department.choices = [  # type: ignore[attr-defined]
            ("", "All departments"),
            *choices.department_choices(),
        ]
        classification = self.fields["classification"]
        classification.choices = [  # type: ignore[attr-defined]
            ("", "All classifications"),
            *choices.classification_choices(),
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since: dt.date | None = cleaned.get("since")
        until: dt.date | None = cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "must be on or after the start date")
        return cleaned

    def filters(self) -> ComplianceFilters | None:
        """The valid filters (invalid fields are left out); None without any policy."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        policy = data.get("policy") or default_policy()
        if policy is None:
            return None
        return ComplianceFilters(
            policy=policy,
            version=policy.current_version(),
            source=data.get("source"),
            experiment=data.get("experiment"),
            department=data.get("department") or None,
            classification=data.get("classification") or None,
            since=data.get("since"),
            until=data.get("until"),
            **self.extra_filters(data),
        )

    def extra_filters(self, data: dict[str, Any]) -> dict[str, Any]:
        return {}


class ComplianceRunsFilterForm(ComplianceFilterForm):
    verdict = forms.ChoiceField(
        required=False,
        choices=[("", "Any verdict")]
        + [(value, VERDICT_LABELS[value]) for value in Assessment.Verdict.values]
        + [("none", VERDICT_LABELS["none"])],
    )
    risk = forms.ChoiceField(
        required=False,
        choices=[("", "Any risk")] + [(level, level.capitalize()) for level in RISK_LEVELS],
    )
    failed_rule = forms.SlugField(required=False, label="Fails rule (id)", max_length=64)
    pending = forms.ChoiceField(
        required=False,
        label="Awaiting assessment",
        choices=[("", "Any"), ("yes", "Only runs awaiting assessment")],
    )

    def extra_filters(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "verdict": data.get("verdict") or None,
            "risk": data.get("risk") or None,
            "failed_rule": data.get("failed_rule") or None,
            "pending": data.get("pending") == "yes",
        }


class PolicyEditForm(UswdsForm):
    text = forms.CharField(
        label="Policy (YAML)",
        widget=forms.Textarea(attrs={"rows": 30, "spellcheck": "false", "class": "govdash-mono"}),
        strip=False,
        max_length=MAX_POLICY_BYTES,
    )
    notes = forms.CharField(
        required=False,
        max_length=2000,
        label="What changed (kept with the version)",
        widget=forms.TextInput(),
    )


class PolicyImportForm(forms.Form):
    file = forms.FileField(
        required=False,
        label="YAML file",
        help_text="A policy exported from govdash, or written by hand.",
    )
    text = forms.CharField(
        required=False,
        label="…or paste the YAML",
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "govdash-mono"}),
        strip=False,
        max_length=MAX_POLICY_BYTES,
    )
    notes = forms.CharField(
        required=False, max_length=2000, label="Notes", widget=forms.TextInput()
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_uswds(self)
        self.fields["file"].widget.attrs["accept"] = ".yaml,.yml,text/yaml,application/x-yaml"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("file")
        if upload is not None:
            if upload.size > MAX_POLICY_BYTES:
                raise ValidationError(f"The file is larger than {MAX_POLICY_BYTES // 1024} KiB.")
            try:
                cleaned["text"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                self.add_error("file", "must be UTF-8 text")
                return cleaned
        if not (cleaned.get("text") or "").strip():
            raise ValidationError("Choose a YAML file or paste the policy.")
        return cleaned
