"""Filters of the mirror's list pages; the read API applies the same ones.

Lists default to what is live: deleted and gone rows are one choice away, never
hidden for good.
"""

from __future__ import annotations

from typing import Any, TypeVar

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTransform

from kernel.forms import style_uswds
from kernel.keyset import Keyset
from tracking.models import (
    AliasChange,
    Experiment,
    ExperimentQuerySet,
    RegisteredModel,
    Run,
    RunQuerySet,
    Source,
)

RUN_STATUSES = (
    ("RUNNING", "Running"),
    ("SCHEDULED", "Scheduled"),
    ("FINISHED", "Finished"),
    ("FAILED", "Failed"),
    ("KILLED", "Killed"),
)

LIFECYCLE_CHOICES = (
    ("active", "Active only"),
    ("deleted", "Deleted or gone only"),
    ("all", "All, deleted included"),
)
DEFAULT_LIFECYCLE = "active"

# The columns a run list shows: the big JSON columns (params, tags, metrics)
# stay in the database.
RUN_LIST_FIELDS = (
    "id",
    "run_id",
    "run_name",
    "status",
    "start_time",
    "end_time",
    "user_id",
    "lifecycle_stage",
    "classification",
    "gone_at",
    "source",
    "source__id",
    "source__name",
    "experiment",
    "experiment__id",
    "experiment__name",
    "experiment__experiment_id",
)


# The order of every run list, pages and API alike: newest first, the id breaking
# ties; served by the indexes tracking_run_recent and (one experiment's runs)
# tracking_run_exp_recent, so a page by cursor is a range scan (kernel.keyset).
RUN_KEYSET = Keyset(Run, ("start_time", "id"))
RUN_TABLE_KEYSETS = {"start_time": RUN_KEYSET}


def runs_for_list() -> RunQuerySet:
    return Run.objects.select_related("source", "experiment").only(*RUN_LIST_FIELDS)


def parse_tag(text: str) -> tuple[str, str | None]:
    """``key=value`` -> (key, value); ``key`` alone -> (key, None): the tag is set at all."""
    key, sep, value = text.partition("=")
    return key.strip(), (value.strip() if sep else None)


def filter_by_tag(queryset: QuerySet[Any], text: str, *, field: str = "tags") -> QuerySet[Any]:
    key, value = parse_tag(text)
    if not key:
        return queryset
    if value is None:
        return queryset.filter(**{f"{field}__has_key": key})
    # A key transform rather than ``tags__contains``: JSON containment is not
    # available on SQLite, and ``tags__<key>`` would split keys holding "__".
    return queryset.alias(_tag_value=KeyTransform(key, field)).filter(_tag_value=value)


class _ExperimentChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Experiment) -> str:  # type: ignore[override]
        return f"{obj.name} ({obj.source.name})"


class _ExperimentFilter(django_filters.ModelChoiceFilter):
    field_class = _ExperimentChoice


class _UswdsFilterSet(django_filters.FilterSet):
    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        if (
            data is not None
            and "lifecycle" in self.base_filters
            and data.get("lifecycle") not in dict(LIFECYCLE_CHOICES)
        ):
            data = data.copy()
            data["lifecycle"] = DEFAULT_LIFECYCLE
        super().__init__(data, *args, **kwargs)
        self.drop_filters()
        style_uswds(self.form)

    def drop_filters(self) -> None:
        """Remove filters that make no sense where the list is shown (before the form is built)."""


def _source_filter() -> django_filters.ModelChoiceFilter:
    return django_filters.ModelChoiceFilter(
        queryset=Source.objects.only("id", "name"),
        to_field_name="name",
        empty_label="All sources",
    )


class RunFilter(_UswdsFilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Run name or id contains")
    source = _source_filter()
    experiment = _ExperimentFilter(
        queryset=Experiment.objects.select_related("source").only(
            "id", "name", "source__id", "source__name"
        ),
        empty_label="All experiments",
    )
    status = django_filters.ChoiceFilter(choices=RUN_STATUSES, empty_label="Any status")
    lifecycle = django_filters.ChoiceFilter(
        choices=LIFECYCLE_CHOICES, method="filter_lifecycle", empty_label=None, label="Lifecycle"
    )
    classification = django_filters.CharFilter(lookup_expr="iexact", label="Classification (exact)")
    tag = django_filters.CharFilter(method="filter_tag", label="Tag (key or key=value)")

    class Meta:
        model = Run
        fields = ["q", "source", "experiment", "status", "lifecycle", "classification", "tag"]

    def __init__(
        self, data: Any = None, *args: Any, experiment: Experiment | None = None, **kwargs: Any
    ) -> None:
        self.fixed_experiment = experiment
        super().__init__(data, *args, **kwargs)

    def drop_filters(self) -> None:
        if self.fixed_experiment is not None:
            # The experiment page lists its own runs: choosing another makes no sense.
            del self.filters["source"]
            del self.filters["experiment"]

    def filter_q(self, queryset: QuerySet[Run], name: str, value: str) -> QuerySet[Run]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(run_name__icontains=value) | Q(run_id__icontains=value))

    def filter_lifecycle(self, queryset: RunQuerySet, name: str, value: str) -> RunQuerySet:
        return lifecycle_filter(queryset, value)

    def filter_tag(self, queryset: QuerySet[Run], name: str, value: str) -> QuerySet[Run]:
        return filter_by_tag(queryset, value)


_Lifecycled = TypeVar("_Lifecycled", RunQuerySet, ExperimentQuerySet)


def lifecycle_filter(queryset: _Lifecycled, value: str) -> _Lifecycled:
    if value == "deleted":
        return queryset.deleted()
    if value == "all":
        return queryset
    return queryset.visible()


class ExperimentFilter(_UswdsFilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")
    source = _source_filter()
    lifecycle = django_filters.ChoiceFilter(
        choices=LIFECYCLE_CHOICES, method="filter_lifecycle", empty_label=None, label="Lifecycle"
    )
    tag = django_filters.CharFilter(method="filter_tag", label="Tag (key or key=value)")

    class Meta:
        model = Experiment
        fields = ["q", "source", "lifecycle", "tag"]

    def filter_lifecycle(
        self, queryset: ExperimentQuerySet, name: str, value: str
    ) -> ExperimentQuerySet:
        return lifecycle_filter(queryset, value)

    def filter_tag(self, queryset: QuerySet[Experiment], name: str, value: str) -> QuerySet[Any]:
        return filter_by_tag(queryset, value)


MODEL_STATE_CHOICES = (
    ("current", "On the server"),
    ("gone", "Gone from the server"),
    ("all", "All"),
)


class ModelFilter(_UswdsFilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")
    source = _source_filter()
    state = django_filters.ChoiceFilter(
        choices=MODEL_STATE_CHOICES, method="filter_state", empty_label=None, label="State"
    )
    alias = django_filters.CharFilter(
        field_name="aliases", lookup_expr="has_key", label="Has alias"
    )
    alerts = django_filters.ChoiceFilter(
        choices=(("open", "Only models with open alerts"),),
        method="filter_alerts",
        empty_label="Any",
        label="Out-of-band alerts",
    )

    class Meta:
        model = RegisteredModel
        fields = ["q", "source", "state", "alias", "alerts"]

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        if data is not None and data.get("state") not in dict(MODEL_STATE_CHOICES):
            data = data.copy()
            data["state"] = "current"
        super().__init__(data, *args, **kwargs)

    def filter_state(
        self, queryset: QuerySet[RegisteredModel], name: str, value: str
    ) -> QuerySet[RegisteredModel]:
        if value == "gone":
            return queryset.filter(gone_at__isnull=False)
        if value == "all":
            return queryset
        return queryset.filter(gone_at__isnull=True)

    def filter_alerts(
        self, queryset: QuerySet[RegisteredModel], name: str, value: str
    ) -> QuerySet[RegisteredModel]:
        return queryset.filter(
            Exists(AliasChange.objects.open_alerts().filter(model=OuterRef("pk")))
        )
