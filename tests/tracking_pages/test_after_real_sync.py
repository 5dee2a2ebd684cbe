"""The pages over what a real sync wrote from a real ``mlflow server``."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from audit.models import AuditEvent
from tests.tracking_pages.conftest import LONG, SCRIPT
from tracking.models import AliasChange, Experiment, RegisteredModel, Run, Source, SyncRun
from tracking.services import source_create, sync_execute, sync_request

pytestmark = pytest.mark.django_db


@dataclass
class PagesWorld:
    client: MlflowClient
    experiment: str
    runs: list[str]
    model: str


@pytest.fixture(scope="session")
def pages_world(mlflow_server) -> PagesWorld:  # type: ignore[no-untyped-def]
    """A few runs and a model of our own on the session's server (names unique to us)."""
    client = MlflowClient(tracking_uri=mlflow_server.url)
    tag = uuid.uuid4().hex[:8]
    experiment_id = client.create_experiment(f"pages-{tag} {SCRIPT}")
    now = int(time.time() * 1000)
    runs = []
    for number in range(3):
        run = client.create_run(
            experiment_id, start_time=now + number, run_name=f"pages run {number} {SCRIPT}"
        )
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("auc", 0.8 + number / 100, now, 2)],
            params=[Param("html", SCRIPT), Param("lr", "0.01")],
            tags=[RunTag("note", LONG), RunTag("classification", "official")],
        )
        client.set_terminated(run.info.run_id, end_time=now + 10)
        runs.append(run.info.run_id)
    client.delete_run(runs[2])
    model = f"pages-model-{tag}"
    client.create_registered_model(model)
    for run_id in runs[:2]:
        client.create_model_version(
            model, source=f"runs:/{run_id}/model", run_id=run_id, await_creation_for=0
        )
    client.set_registered_model_alias(model, "production", "1")
    return PagesWorld(client=client, experiment=experiment_id, runs=runs, model=model)


@pytest.fixture
def synced(mlflow_server, pages_world: PagesWorld) -> Source:  # type: ignore[no-untyped-def]
    source = source_create(name="real", url=mlflow_server.url)
    sync_run = sync_execute(sync_run=sync_request(source=source))
    assert sync_run.status == "succeeded", sync_run.error
    return source


@pytest.fixture
def reader(client: Client, make_user) -> Client:
    client.force_login(make_user("ana", "ml-engineer"))
    return client


def test_sources_page_shows_the_probed_capabilities_and_the_sync(reader, synced: Source):
    html = reader.get(reverse("tracking:sources")).content.decode()
    sync_run = SyncRun.objects.get(source=synced)
    assert f"Sync #{sync_run.pk}" in html
    assert "Succeeded" in html
    assert "Model-version search" in html  # a real MLflow server has it
    assert "Not checked yet" not in html
    assert f"runs {sync_run.counts['runs']}" in html


def test_synced_run_shows_escaped_and_whole_on_its_page(
    reader, synced: Source, pages_world: PagesWorld
):
    run = Run.objects.get(source=synced, run_id=pages_world.runs[0])
    html = reader.get(reverse("tracking:run", args=[run.pk])).content.decode()
    assert "<script>alert" not in html
    assert "pages run 0 &lt;script&gt;" in html
    assert "Show all 5000 characters" in html
    assert f"{synced.url}/#/experiments/{pages_world.experiment}/runs/{run.run_id}" in html
    assert re.search(r"pages-model-\w+ v1", html)


def test_runs_table_over_the_real_mirror_filters_and_hides_the_deleted_run(
    reader, synced: Source, pages_world: PagesWorld
):
    experiment = Experiment.objects.get(source=synced, experiment_id=pages_world.experiment)
    response = reader.get(reverse("tracking:runs"), {"experiment": experiment.pk})
    ids = {row.record.run_id for row in response.context["table"].page.object_list}
    assert ids == set(pages_world.runs[:2])
    response = reader.get(
        reverse("tracking:runs"),
        {"experiment": experiment.pk, "lifecycle": "deleted", "classification": "official"},
    )
    ids = {row.record.run_id for row in response.context["table"].page.object_list}
    assert ids == {pages_world.runs[2]}


def test_alias_moved_on_the_server_shows_as_an_alert_until_acknowledged(
    client: Client, make_user, synced: Source, pages_world: PagesWorld
):
    world = pages_world
    world.client.set_registered_model_alias(world.model, "production", "2")
    try:
        assert sync_execute(sync_run=sync_request(source=synced)).status == "succeeded"
    finally:
        world.client.set_registered_model_alias(world.model, "production", "1")
    model = RegisteredModel.objects.get(source=synced, name=world.model)
    alert = AliasChange.objects.open_alerts().get(model=model)

    client.force_login(make_user("ana", "ml-engineer"))
    html = client.get(reverse("home")).content.decode()
    assert world.model in html
    assert model.get_absolute_url() in html
    model_page = client.get(model.get_absolute_url()).content.decode()
    assert "Not approved in govdash" in model_page

    client.force_login(make_user("olivia", "compliance-officer"))
    client.post(reverse("tracking:alert-acknowledge", args=[alert.pk]))
    assert not AliasChange.objects.open_alerts().filter(model=model).exists()
    assert AuditEvent.objects.filter(
        action="tracking.alert_acknowledge", actor_username="olivia"
    ).exists()
    assert "Out-of-band promotions" not in client.get(reverse("home")).content.decode()
