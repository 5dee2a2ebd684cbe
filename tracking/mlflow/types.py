"""The plain, frozen values the MLflow REST client returns: experiments, runs, models, versions.

No Django model and no ``mlflow`` import: callers see only these dataclasses. Times are epoch
milliseconds (``int``), or ``None`` when the source does not say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

SourceKind = Literal["mlflow", "gitlab"]
ViewType = Literal["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MetricValue:
    value: float
    timestamp: int | None
    step: int


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str | None
    lifecycle_stage: str
    creation_time: int | None
    last_update_time: int | None
    tags: dict[str, str]


@dataclass(frozen=True, slots=True)
class Run:
    run_id: str
    experiment_id: str
    run_name: str | None
    status: str | None
    start_time: int | None
    end_time: int | None
    user_id: str | None
    artifact_uri: str | None
    lifecycle_stage: str
    params: dict[str, str]
    tags: dict[str, str]
    # The latest value per key, by MLflow's rule: greatest (step, timestamp, value).
    metrics: dict[str, MetricValue]


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    description: str
    creation_timestamp: int | None
    last_updated_timestamp: int | None
    tags: dict[str, str]
    aliases: dict[str, str]  # alias -> version


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: str
    source: str | None
    run_id: str | None
    status: str | None
    current_stage: str | None
    creation_timestamp: int | None
    last_updated_timestamp: int | None
    tags: dict[str, str]
    aliases: tuple[str, ...]
    description: str
    # GitLab's ``version`` is a database id; the version people see is a semantic version,
    # which GitLab reports in ``aliases``. It is moved here so it is not mistaken for an alias.
    semver: str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a source supports, as :meth:`TrackingClient.probe` found it."""

    kind: SourceKind
    model_version_search: bool
    alias_write: bool
    run_filter: bool
    multi_experiment_run_search: bool
    artifact_listing: bool
    max_runs_page: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)  # no slots: they break ``Page[Run](...)`` on Python 3.11
class Page(Generic[T]):
    items: tuple[T, ...]
    next_page_token: str | None = None
