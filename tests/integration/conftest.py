"""A real mlflow server of its own, filled once with the official client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from govdash.demo.mlflow_server import MlflowServer
from tests.integration.faults import PrivateRedis


@dataclass
class Population:
    url: str
    compliant: list[str] = field(default_factory=list)
    non_compliant: list[str] = field(default_factory=list)
    deleted: str = ""

    @property
    def active(self) -> set[str]:
        return set(self.compliant) | set(self.non_compliant)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    # Not the session's shared server: its contents here are exactly known.
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-integration")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def population(mlflow_server: MlflowServer) -> Population:
    client = MlflowClient(tracking_uri=mlflow_server.url)
    pop = Population(url=mlflow_server.url)
    experiment_id = client.create_experiment(
        "integration", artifact_location="s3://bucket/integration", tags={"department": "risk"}
    )
    now = int(time.time() * 1000)
    for number in range(7):
        classification = "official" if number < 4 else "top-secret"
        run = client.create_run(
            experiment_id,
            start_time=now - 3600_000 + number * 1000,
            run_name=f"run {number}",
            tags={"mlflow.user": "ana"},
        )
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("loss", 0.5, now, 0)],
            params=[Param("lr", "0.1")],
            tags=[RunTag("classification", classification)],
        )
        client.set_terminated(run.info.run_id)
        (pop.compliant if number < 4 else pop.non_compliant).append(run.info.run_id)
    pop.deleted = pop.compliant.pop()
    client.delete_run(pop.deleted)
    return pop


@pytest.fixture
def private_redis(settings):  # type: ignore[no-untyped-def]
    """A redis-server of the test's own (``faults.PrivateRedis``), which this
    process and ``env``'s subprocesses use; killed at the end."""
    server = PrivateRedis().start()
    settings.REDIS_URL = server.url
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def env(subprocess_env, private_redis):  # type: ignore[no-untyped-def]
    """The environment of subprocesses (workers, scheduler, commands) on ``private_redis``."""
    return {**subprocess_env, "REDIS_URL": private_redis.url}
