"""Sync against a real mlflow server; the official client is the reference."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from mlflow.entities import ViewType

from audit.models import AuditEvent
from audit.services import verify
from tracking.models import (
    AliasChange,
    Experiment,
    ModelVersion,
    RegisteredModel,
    Run,
    Source,
    SyncRun,
)
from tracking.services import source_create, sync_execute, sync_request

pytestmark = pytest.mark.django_db


def _sync(source: Source, *, full: bool = False) -> SyncRun:
    return sync_execute(sync_run=sync_request(source=source, full=full))


def _ms(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


@pytest.fixture
def source(mlflow_server, world) -> Source:
    return source_create(name="local", url=mlflow_server.url)


def _all_official_runs(world):
    client = world.client
    experiment_ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    runs, token = [], None
    while True:
        page = client.search_runs(
            experiment_ids, run_view_type=ViewType.ALL, max_results=1000, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def test_full_sync_mirrors_every_experiment_field_by_field(source, world):
    sync_run = _sync(source)
    assert sync_run.status == "succeeded", sync_run.error
    official = world.client.search_experiments(view_type=ViewType.ALL)
    mirrored = {e.experiment_id: e for e in Experiment.objects.filter(source=source)}
    assert set(mirrored) == {e.experiment_id for e in official}
    for expected in official:
        got = mirrored[expected.experiment_id]
        assert got.name == expected.name
        assert got.artifact_location == expected.artifact_location
        assert got.lifecycle_stage == expected.lifecycle_stage
        assert got.tags == expected.tags
        assert _ms(got.creation_time) == expected.creation_time


def test_full_sync_mirrors_every_run_field_by_field(source, world):
    _sync(source)
    official = _all_official_runs(world)
    mirrored = {r.run_id: r for r in Run.objects.filter(source=source).select_related("experiment")}
    assert len(mirrored) == len(official)
    for expected in official:
        got = mirrored[expected.info.run_id]
        assert got.experiment.experiment_id == expected.info.experiment_id
        assert got.run_name == expected.info.run_name
        assert got.status == expected.info.status
        assert _ms(got.start_time) == expected.info.start_time
        assert _ms(got.end_time) == expected.info.end_time
        assert got.user_id == (expected.info.user_id or "")
        assert got.artifact_uri == expected.info.artifact_uri
        assert got.lifecycle_stage == expected.info.lifecycle_stage
        assert got.params == expected.data.params
        assert got.tags == expected.data.tags
        assert {k: v["value"] for k, v in got.metrics.items()} == expected.data.metrics


def test_full_sync_mirrors_models_versions_and_aliases(source, world):
    _sync(source)
    client = world.client
    for model in client.search_registered_models():
        got = RegisteredModel.objects.get(source=source, name=model.name)
        assert got.tags == model.tags
        assert got.aliases == model.aliases
        versions = client.search_model_versions(f"name='{model.name}'")
        mirrored = {v.version: v for v in got.versions.all()}
        assert set(mirrored) == {v.version for v in versions}
        for found in versions:
            # search_model_versions leaves aliases out; get_model_version has them.
            version = client.get_model_version(model.name, found.version)
            assert mirrored[version.version].mlflow_run_id == (version.run_id or "")
            assert mirrored[version.version].source_uri == version.source
            assert sorted(mirrored[version.version].aliases) == sorted(version.aliases)


def test_deleted_runs_are_kept_and_marked(source, world):
    _sync(source)
    run = Run.objects.get(source=source, run_id=world.deleted_run)
    assert run.lifecycle_stage == "deleted"
    assert run.is_deleted


def test_odd_data_survives_intact(source, world):
    _sync(source)
    run = Run.objects.get(source=source, run_id=world.runs[0])
    assert len(run.tags["note"]) == 5000
    assert run.params["html"] == "<script>alert('x')</script>"
    assert len(run.params["big"]) == 6000
    assert run.tags["ünï"] == "cødé"
    assert Run.objects.get(source=source, run_id=world.no_user_run).user_id == ""
    orphan = ModelVersion.objects.get(model__name=world.orphan_model)
    assert orphan.mlflow_run_id == "0" * 32
    assert orphan.run is None


def test_versions_link_to_their_mirrored_runs(source, world):
    _sync(source)
    version = ModelVersion.objects.get(model__name=world.model, version="1")
    assert version.run is not None
    assert version.run.run_id == world.runs[0]


def test_second_sync_with_nothing_changed_writes_nothing(source, world):
    _sync(source)
    second = _sync(source)
    assert second.status == "succeeded"
    assert not second.full
    assert second.counts["created"] == 0
    assert second.counts["updated"] == 0
    assert second.counts["gone"] == 0
    assert Run.objects.filter(source=source).count() == len(_all_official_runs(world))


def test_watched_alias_moved_outside_govdash_raises_an_alert(source, world):
    _sync(source)
    first_seen = AliasChange.objects.get(model__name=world.model, alias="production")
    assert not first_seen.unapproved  # history from before govdash watched it
    world.client.set_registered_model_alias(world.model, "production", "2")
    world.client.set_registered_model_alias(world.model, "staging", "3")
    try:
        _sync(source)
        moved = AliasChange.objects.filter(model__name=world.model, alias="production").first()
        assert (moved.from_version, moved.to_version, moved.unapproved) == ("1", "2", True)
        staging = AliasChange.objects.get(model__name=world.model, alias="staging")
        assert not staging.unapproved  # not a watched alias
        assert list(AliasChange.objects.open_alerts()) == [moved]
        assert AuditEvent.objects.filter(action="tracking.alias_unapproved").count() == 1
    finally:
        world.client.set_registered_model_alias(world.model, "production", "1")
        world.client.delete_registered_model_alias(world.model, "staging")


def test_each_sync_is_recorded_and_audited(source):
    sync_run = _sync(source)
    assert sync_run.started_at
    assert sync_run.finished_at
    assert sync_run.counts["runs"] > 0
    event = AuditEvent.objects.get(action="tracking.sync")
    assert event.data["source"] == "local"
    assert event.outcome == "success"
    assert verify().intact


def test_sync_command_prints_the_contract_summary(mlflow_server, world, capsys):
    call_command("sources", "add", "cli", "--url", mlflow_server.url)
    call_command("sync", "cli")
    out = capsys.readouterr().out.strip().splitlines()
    official_runs = len(_all_official_runs(world))
    experiments = len(world.client.search_experiments(view_type=ViewType.ALL))
    models = world.client.search_registered_models()
    versions = sum(len(world.client.search_model_versions(f"name='{m.name}'")) for m in models)
    assert out[-1] == (
        f"synced cli: experiments={experiments} runs={official_runs} "
        f"models={len(models)} versions={versions}"
    )


def test_sync_command_fails_in_one_line_for_an_unknown_source():
    with pytest.raises(CommandError, match="no source named nope"):
        call_command("sync", "nope")


def test_sync_of_a_source_that_is_down_fails_cleanly_and_is_shown():
    source = source_create(name="down", url="http://127.0.0.1:9")
    from tracking.sources import client_for

    sync_run = sync_execute(
        sync_run=sync_request(source=source), client=client_for(source, max_retries=1, backoff=0.01)
    )
    assert sync_run.status == "failed"
    assert "127.0.0.1:9" in sync_run.error
    assert "\n" not in sync_run.error
    with pytest.raises(CommandError, match="sync failed: down"):
        call_command("sync", "down")


def test_a_failing_sync_finished_receiver_never_fails_the_finished_sync(
    source, django_capture_on_commit_callbacks, caplog, redis_queue
):
    from tracking.signals import sync_finished

    redis_queue("assess")  # compliance's receiver queues a job here: emptied afterwards

    heard = []

    def broken(sender, sync_run, **kwargs):
        raise RuntimeError("receiver bug")

    def listener(sender, sync_run, succeeded, **kwargs):
        heard.append((sync_run.pk, succeeded))

    sync_finished.connect(broken, dispatch_uid="test-broken")
    sync_finished.connect(listener, dispatch_uid="test-listener")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            sync_run = _sync(source)
    finally:
        sync_finished.disconnect(dispatch_uid="test-broken")
        sync_finished.disconnect(dispatch_uid="test-listener")
    assert sync_run.status == "succeeded"
    assert heard == [(sync_run.pk, True)]  # the other receivers still heard of it
    assert "receiver bug" in caplog.text
