"""A small mirror written straight into the tables: enough for the read pages.

The sync engine is exercised against a real mlflow server in tests/sync; these
pages only read what it writes, so the rows are made here directly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
from django.utils import timezone

from tracking.models import (
    AliasChange,
    Experiment,
    ModelVersion,
    RegisteredModel,
    Run,
    Source,
    SyncRun,
)
from tracking.services import source_create

SCRIPT = "<script>alert('x')</script>"
LONG = "é" + "x" * 4998 + "✓"  # 5,000 characters, MLflow's limit for a tag value
T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


@dataclass
class Mirror:
    source: Source
    other: Source
    experiment: Experiment
    hostile_experiment: Experiment
    runs: list[Run] = field(default_factory=list)
    deleted_run: Run | None = None
    gone_run: Run | None = None
    hostile_run: Run | None = None
    model: RegisteredModel | None = None
    versions: list[ModelVersion] = field(default_factory=list)
    alert: AliasChange | None = None
    approved_change: AliasChange | None = None
    sync: SyncRun | None = None


def make_run(source: Source, experiment: Experiment, run_id: str, **fields: object) -> Run:
    defaults: dict[str, object] = {
        "run_name": run_id,
        "status": "FINISHED",
        "start_time": T0,
        "content_hash": "x",
    }
    defaults.update(fields)
    return Run.objects.create(source=source, experiment=experiment, run_id=run_id, **defaults)


@pytest.fixture
def mirror(db: None) -> Mirror:
    return build_mirror()


def build_mirror() -> Mirror:
    """Two sources, a few runs (deleted, gone, hostile), a model with an open alert."""
    source = source_create(
        name="risk", url="https://mlflow.example.gov", secret_env="GOVDASH_SOURCE_TOKEN_RISK"
    )
    other = source_create(
        name="gitlab-fraud",
        url="https://gitlab.example.gov/api/v4/projects/42/ml/mlflow",
        kind="gitlab",
        secret="glpat-super-secret-value",
    )
    Source.objects.filter(pk=other.pk).update(
        capabilities={
            "kind": "gitlab",
            "model_version_search": False,
            "alias_write": False,
            "run_filter": False,
            "multi_experiment_run_search": False,
            "artifact_listing": False,
            "max_runs_page": 1000,
            "notes": ["runs/search takes one experiment id: runs are read one at a time"],
        },
        capabilities_checked_at=T0,
    )
    other.refresh_from_db()
    experiment = Experiment.objects.create(
        source=source, experiment_id="1", name="credit-scoring", content_hash="x"
    )
    hostile = Experiment.objects.create(
        source=source,
        experiment_id="2",
        name=f"exp {SCRIPT}",
        content_hash="x",
        tags={"note": SCRIPT},
    )
    gitlab_experiment = Experiment.objects.create(
        source=other, experiment_id="7", name="fraud", content_hash="x"
    )
    m = Mirror(source=source, other=other, experiment=experiment, hostile_experiment=hostile)
    for number in range(5):
        m.runs.append(
            make_run(
                source,
                experiment,
                f"{number:032x}",
                run_name=f"scoring run {number}",
                start_time=T0 + dt.timedelta(minutes=number),
                classification=["official", "secret"][number % 2],
                tags={"team": "risk" if number < 3 else "ops", "mlflow.user": "ana"},
                params={"lr": "0.1"},
                metrics={"auc": {"value": 0.9, "step": 3, "timestamp": 1740830400000}},
                user_id="ana",
            )
        )
    m.runs.append(make_run(other, gitlab_experiment, "gl-1", run_name="gitlab run", tags={}))
    m.deleted_run = make_run(
        source, experiment, "d" * 32, run_name="deleted run", lifecycle_stage="deleted"
    )
    m.gone_run = make_run(
        source, experiment, "e" * 32, run_name="gone run", gone_at=T0 + dt.timedelta(days=1)
    )
    m.hostile_run = make_run(
        source,
        hostile,
        "f" * 32,
        run_name=f"run {SCRIPT}",
        tags={"note": LONG, "html": SCRIPT, "a__b": "under"},
        params={"html": SCRIPT, "big": "p" * 6000},
        metrics={"loss": {"value": 0.25, "step": 2, "timestamp": 1740830400000}},
        classification=SCRIPT[:100],
    )
    model = RegisteredModel.objects.create(
        source=source, name="credit-model", content_hash="x", aliases={"production": "2"}
    )
    m.model = model
    for number, run in enumerate(m.runs[:2], start=1):
        m.versions.append(
            ModelVersion.objects.create(
                model=model,
                version=str(number),
                run=run,
                mlflow_run_id=run.run_id,
                status="READY",
                content_hash="x",
                creation_time=T0 + dt.timedelta(hours=number),
                aliases=["production"] if number == 2 else [],
            )
        )
    sync = SyncRun.objects.create(
        source=source,
        status=SyncRun.Status.SUCCEEDED,
        started_at=T0,
        finished_at=T0 + dt.timedelta(seconds=42),
        counts={"runs": 8, "created": 8},
        phase="done",
    )
    m.sync = sync
    m.approved_change = AliasChange.objects.create(
        model=model,
        alias="production",
        from_version="",
        to_version="1",
        sync_run=sync,
        observed_at=T0,
    )
    m.alert = AliasChange.objects.create(
        model=model,
        alias="production",
        from_version="1",
        to_version="2",
        sync_run=sync,
        unapproved=True,
        observed_at=timezone.now(),
    )
    return m
