"""A real mlflow server with a known population, for the sync tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from govdash.demo.mlflow_server import MlflowServer

LONG = "ü" + "v" * 4998 + "!"  # 5,000 characters, MLflow's limit for a tag value
SCRIPT = "<script>alert('x')</script>"


@dataclass
class World:
    client: MlflowClient
    experiments: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    deleted_run: str = ""
    no_user_run: str = ""
    model: str = ""
    orphan_model: str = ""


@pytest.fixture(scope="session")
def world(mlflow_server: MlflowServer) -> World:
    """Fill the session's mlflow server once, through the official client."""
    client = MlflowClient(tracking_uri=mlflow_server.url)
    w = World(client=client)
    base = int(time.time() * 1000) - 3 * 24 * 3600 * 1000  # three days ago
    for index, name in enumerate(["sync-alpha", f"sync-beta {SCRIPT} ✓", "sync-gamma"]):
        experiment_id = client.create_experiment(
            name,
            artifact_location=f"s3://bucket/{index}",
            tags={"department": "risk", "long": LONG},
        )
        w.experiments.append(experiment_id)
        for number in range(12):
            run = client.create_run(
                experiment_id,
                start_time=base + index * 100_000 + number * 1000,
                run_name=f"run {number} {SCRIPT}",
                tags={"mlflow.user": "ana"},
            )
            client.log_batch(
                run.info.run_id,
                metrics=[Metric("loss", 1 / (s + 1), base + s, s) for s in range(3)]
                + [Metric("acc", 0.8, base, 0)],
                params=[Param("lr", "0.1"), Param("html", SCRIPT), Param("big", "p" * 6000)],
                tags=[
                    RunTag("classification", ["official", "secret", "Secret "][number % 3]),
                    RunTag("note", LONG),
                    RunTag("ünï", "cødé"),
                ],
            )
            client.set_terminated(
                run.info.run_id, end_time=base + index * 100_000 + number * 1000 + 500
            )
            w.runs.append(run.info.run_id)
    w.deleted_run = w.runs[3]
    client.delete_run(w.deleted_run)
    store = client._tracking_client.store
    w.no_user_run = store.create_run(
        experiment_id=w.experiments[0], user_id="", start_time=base, tags=[], run_name="no user"
    ).info.run_id
    client.set_terminated(w.no_user_run, end_time=base + 10)
    w.runs.append(w.no_user_run)

    w.model = "sync-scorer"
    client.create_registered_model(w.model, tags={"owner": "risk"})
    for run_id in w.runs[:3]:
        client.create_model_version(
            w.model, source=f"runs:/{run_id}/model", run_id=run_id, await_creation_for=0
        )
    client.set_registered_model_alias(w.model, "production", "1")
    # A version whose run does not exist on the server.
    w.orphan_model = "orphan <b>model ✓"
    client.create_registered_model(w.orphan_model)
    client.create_model_version(
        w.orphan_model, source="s3://bucket/model", run_id="0" * 32, await_creation_for=0
    )
    return w
