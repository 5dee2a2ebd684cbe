"""One real ``mlflow server`` for the tracking tests, filled with the official MLflow client."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from govdash.demo.mlflow_server import MlflowServer

from .gitlab_fake import FaultProxy, GitLabFake

LONG_TAG = "é" + "x" * 4998 + "✓"  # 5,000 characters: MLflow's limit for a tag value
SCRIPT = "<script>alert('govdash')</script>"
GITLAB_TOKEN = "glpat-api-token"
GITLAB_READ_TOKEN = "glpat-read-token"
PAGING_RUNS = 13


@dataclass
class Seed:
    """What the official client wrote; the tests compare TrackingClient against the server."""

    main_experiment: str = ""
    other_experiment: str = ""
    deleted_experiment: str = ""
    paging_experiment: str = ""
    full_run: str = ""
    running_run: str = ""
    deleted_run: str = ""
    no_user_run: str = ""
    run_in_deleted_experiment: str = ""
    paging_runs: list[str] = field(default_factory=list)
    other_runs: list[str] = field(default_factory=list)
    model: str = "credit-scorer"
    quoted_model: str = "O'Brien <script>alert(1)<script> ünïcødé"
    empty_model: str = "empty-model"
    artifact_location: str = ""

    @property
    def experiments(self) -> list[str]:
        return [
            self.main_experiment,
            self.other_experiment,
            self.deleted_experiment,
            self.paging_experiment,
        ]


def _fill(client: MlflowClient, workdir: Path) -> Seed:
    seed = Seed()
    seed.artifact_location = (workdir / "custom-artifacts").as_uri()
    seed.main_experiment = client.create_experiment(
        f"credit risk {SCRIPT} ünïcødé",
        artifact_location=seed.artifact_location,
        tags={"team": "risk & compliance", "long": LONG_TAG, "html": SCRIPT, "ünï": "cødé ✓"},
    )
    seed.other_experiment = client.create_experiment("fraud-detection")
    seed.deleted_experiment = client.create_experiment("retired", tags={"why": "superseded"})
    seed.paging_experiment = client.create_experiment("paging")

    full = client.create_run(
        seed.main_experiment,
        run_name=f"baseline {SCRIPT} ✓",
        tags={"mlflow.user": "alice", "stage": "candidate", "long": LONG_TAG, "html": SCRIPT},
    )
    seed.full_run = full.info.run_id
    base = int(time.time() * 1000)
    metrics = [Metric("loss", 1.0 / (step + 1), base + step, step) for step in range(10)]
    # Logged last but at an earlier step: the latest value stays the one at step 9.
    metrics.append(Metric("loss", 42.0, base + 100, 3))
    metrics += [Metric("accuracy", 0.5 + step / 100, base + step, step) for step in range(5)]
    metrics.append(Metric("diverged", math.nan, base, 0))
    client.log_batch(
        seed.full_run,
        metrics=metrics,
        params=[Param("lr", "0.01"), Param("html", SCRIPT), Param("ünï", "cødé ✓")],
        tags=[RunTag("note", "checked by <b>Bob</b> & Zoë")],
    )
    client.set_terminated(seed.full_run)

    seed.running_run = client.create_run(seed.main_experiment, run_name="still running").info.run_id
    client.log_param(seed.running_run, "depth", "7")

    seed.deleted_run = client.create_run(seed.main_experiment, run_name="thrown away").info.run_id
    client.set_terminated(seed.deleted_run, status="FAILED")
    client.delete_run(seed.deleted_run)

    # The official client's create_run always sends a user ("unknown" at worst); its REST
    # store lets us create what other writers do: a run without one.
    store = client._tracking_client.store
    seed.no_user_run = store.create_run(
        experiment_id=seed.main_experiment,
        user_id="",
        start_time=base,
        tags=[],
        run_name="no user",
    ).info.run_id

    seed.run_in_deleted_experiment = client.create_run(seed.deleted_experiment).info.run_id
    client.delete_experiment(seed.deleted_experiment)

    for index in range(2):
        run = client.create_run(seed.other_experiment, run_name=f"fraud {index}")
        client.log_metric(run.info.run_id, "auc", 0.8 + index / 100)
        seed.other_runs.append(run.info.run_id)

    for index in range(PAGING_RUNS):
        run = client.create_run(
            seed.paging_experiment, run_name=f"sweep {index:02d}", tags={"i": str(index)}
        )
        seed.paging_runs.append(run.info.run_id)

    client.create_registered_model(
        seed.model,
        tags={"owner": "risk", "html": SCRIPT, "long": LONG_TAG},
        description=f"Scores credit {SCRIPT}",
    )
    for run_id in (seed.full_run, seed.running_run, seed.no_user_run):
        client.create_model_version(
            seed.model, source=f"runs:/{run_id}/model", run_id=run_id, tags={"from": run_id[:6]}
        )
    client.update_model_version(seed.model, "2", description="the good one ✓")
    client.set_registered_model_alias(seed.model, "champion", "2")
    client.set_registered_model_alias(seed.model, "challenger", "3")

    client.create_registered_model(seed.quoted_model)
    client.create_model_version(
        seed.quoted_model, source=f"runs:/{seed.full_run}/model", run_id=seed.full_run
    )
    client.create_registered_model(seed.empty_model)
    return seed


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def official(mlflow_server: MlflowServer) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)


@pytest.fixture(scope="session")
def seed(official: MlflowClient, mlflow_server: MlflowServer) -> Seed:
    return _fill(official, mlflow_server.workdir)


@pytest.fixture(scope="session")
def _gitlab_fake(mlflow_server: MlflowServer, seed: Seed) -> Iterator[GitLabFake]:
    with GitLabFake(mlflow_server.url) as fake:
        yield fake


@pytest.fixture
def gitlab_fake(_gitlab_fake: GitLabFake) -> GitLabFake:
    _gitlab_fake.reset()
    return _gitlab_fake


@pytest.fixture(scope="session")
def _fault_proxy(mlflow_server: MlflowServer, seed: Seed) -> Iterator[FaultProxy]:
    with FaultProxy(mlflow_server.url) as proxy:
        yield proxy


@pytest.fixture
def fault_proxy(_fault_proxy: FaultProxy) -> FaultProxy:
    _fault_proxy.reset()
    return _fault_proxy
