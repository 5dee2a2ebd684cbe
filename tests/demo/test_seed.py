"""The demo seed, checked against a real ``mlflow server`` through the official client."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from mlflow import MlflowClient
from mlflow.entities import Run

from govdash.demo.mlflow_server import MlflowServer
from govdash.demo.seed import (
    ALLOWED_CLASSIFICATIONS,
    EXPERIMENTS,
    MODELS,
    RETENTION_EXEMPT_TAG,
    SEED_TAG,
    DemoSeedError,
    SeedSummary,
    seed_demo,
)

THREE_YEARS_MS = 3 * 365 * 24 * 60 * 60 * 1000
# Fewer than the demo's 60 per experiment: enough for every kind of run, and quick.
RUNS_PER_EXPERIMENT = 24


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A server of our own: the session's shared one is fully synced by other tests,
    which should not have to wade through the demo's hundreds of runs."""
    # As scripts/demo.py starts it: accepting the demo's http(s) artifact locations.
    os.environ["MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES"] = "http,https"
    try:
        server = MlflowServer(tmp_path_factory.mktemp("demo-mlflow"))
        server.start()
    finally:
        os.environ.pop("MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES", None)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def seeded(demo_server: MlflowServer) -> SeedSummary:
    return seed_demo(demo_server.url, runs_per_experiment=RUNS_PER_EXPERIMENT)


@pytest.fixture(scope="module")
def client(demo_server: MlflowServer) -> MlflowClient:
    return MlflowClient(tracking_uri=demo_server.url, registry_uri=demo_server.url)


@pytest.fixture(scope="module")
def demo_runs(seeded: SeedSummary, client: MlflowClient) -> list[Run]:
    return _all_runs(client)


def _experiment_ids(client: MlflowClient) -> list[str]:
    found = [client.get_experiment_by_name(spec.name) for spec in EXPERIMENTS]
    return [exp.experiment_id for exp in found if exp is not None]


def _all_runs(client: MlflowClient) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(_experiment_ids(client), max_results=100, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _versions(client: MlflowClient) -> int:
    return sum(
        len(client.search_model_versions(f"name = '{model.name}'", max_results=1000))
        for model in MODELS
    )


def test_summary_matches_what_the_server_holds(seeded: SeedSummary, client: MlflowClient) -> None:
    assert seeded.created
    assert seeded.experiments == len(_experiment_ids(client)) == len(EXPERIMENTS)
    assert seeded.runs == len(_all_runs(client)) == RUNS_PER_EXPERIMENT * len(EXPERIMENTS)
    names = {spec.name for spec in MODELS}
    models = [m for m in client.search_registered_models(max_results=1000) if m.name in names]
    assert seeded.models == len(models) == len(MODELS)
    assert seeded.versions == _versions(client)


def test_seeding_again_adds_nothing(seeded: SeedSummary, client: MlflowClient) -> None:
    runs_before = len(_all_runs(client))

    again = seed_demo(client.tracking_uri, runs_per_experiment=RUNS_PER_EXPERIMENT)

    assert not again.created
    assert (again.experiments, again.runs, again.models, again.versions) == (
        seeded.experiments,
        seeded.runs,
        seeded.models,
        seeded.versions,
    )
    assert len(_all_runs(client)) == runs_before
    assert _versions(client) == seeded.versions


def test_a_seed_that_did_not_finish_is_refused(seeded: SeedSummary, client: MlflowClient) -> None:
    experiment = client.get_experiment_by_name(EXPERIMENTS[0].name)
    assert experiment is not None
    client.set_experiment_tag(experiment.experiment_id, SEED_TAG, "seeding")
    try:
        with pytest.raises(DemoSeedError, match="did not finish"):
            seed_demo(client.tracking_uri)
    finally:
        client.set_experiment_tag(experiment.experiment_id, SEED_TAG, "complete")


def test_experiments_carry_governance_tags(seeded: SeedSummary, client: MlflowClient) -> None:
    experiments = [client.get_experiment_by_name(spec.name) for spec in EXPERIMENTS]
    assert all(exp is not None for exp in experiments)
    with_owner = [exp for exp in experiments if exp and "owner" in exp.tags]
    assert 0 < len(with_owner) < len(experiments)
    assert any(exp and "department" in exp.tags for exp in experiments)
    assert any(exp and "project" in exp.tags for exp in experiments)


def test_artifact_locations_mix_approved_and_local_schemes(
    seeded: SeedSummary, client: MlflowClient
) -> None:
    schemes = set()
    for spec in EXPERIMENTS:
        experiment = client.get_experiment_by_name(spec.name)
        assert experiment is not None
        schemes.add(experiment.artifact_location.split(":", 1)[0])
    assert {"s3", "file"} <= schemes


def test_runs_are_both_compliant_and_not(demo_runs: list[Run]) -> None:
    classifications = [run.data.tags.get("classification") for run in demo_runs]
    allowed = [c for c in classifications if c in ALLOWED_CLASSIFICATIONS]
    missing = [c for c in classifications if c is None]
    odd = [c for c in classifications if c is not None and c not in ALLOWED_CLASSIFICATIONS]
    assert len(allowed) > len(demo_runs) // 2
    assert missing
    assert odd


def test_runs_record_params_metric_history_and_users(
    demo_runs: list[Run], client: MlflowClient
) -> None:
    complete = [run for run in demo_runs if run.data.params and run.data.metrics]
    assert len(complete) > len(demo_runs) * 0.8
    assert any(not run.data.params or not run.data.metrics for run in demo_runs)
    run = next(r for r in complete if r.info.status == "FINISHED")
    assert len(run.data.params) >= 5
    assert len(run.data.tags) >= 8
    assert len(run.data.metrics) == 2
    key = next(iter(run.data.metrics))
    history = client.get_metric_history(run.info.run_id, key)
    assert len(history) >= 5
    assert [m.step for m in history] == sorted(m.step for m in history)
    assert any("mlflow.user" not in r.data.tags for r in demo_runs)
    assert any(r.info.user_id not in ("", "unknown") for r in demo_runs)


def test_runs_mix_statuses_and_ages(demo_runs: list[Run]) -> None:
    statuses = {run.info.status for run in demo_runs}
    assert {"FINISHED", "FAILED", "KILLED"} <= statuses
    assert all(run.info.end_time and run.info.end_time >= run.info.start_time for run in demo_runs)
    now_ms = int(time.time() * 1000)
    old = [run for run in demo_runs if now_ms - run.info.start_time > THREE_YEARS_MS]
    assert old
    assert any(run.data.tags.get(RETENTION_EXEMPT_TAG) == "true" for run in old)
    assert any(RETENTION_EXEMPT_TAG not in run.data.tags for run in old)


def test_models_have_versions_linked_to_runs_and_aliases(
    seeded: SeedSummary, client: MlflowClient
) -> None:
    for spec in MODELS:
        model = client.get_registered_model(spec.name)
        versions = client.search_model_versions(f"name = '{spec.name}'")
        assert 2 <= len(versions) <= 4
        experiment = client.get_experiment_by_name(spec.experiment)
        assert experiment is not None
        for version in versions:
            assert version.run_id
            assert client.get_run(version.run_id).info.experiment_id == experiment.experiment_id
        assert set(model.aliases) == set(spec.aliases)
        for alias, number in model.aliases.items():
            assert client.get_model_version_by_alias(spec.name, alias).version == str(number)
    all_aliases = {alias for spec in MODELS for alias in spec.aliases}
    assert {"champion", "production", "staging"} <= all_aliases


@pytest.mark.django_db
def test_default_policy_classifies_the_demo_runs_as_their_data_says(
    demo_server: MlflowServer, demo_runs: list[Run], client: MlflowClient, default_policy
) -> None:
    """Sync the demo server, assess it, and check every run's result against an
    expectation computed here from what the official client reports."""
    import re

    from reports.models import Assessment, RuleResult
    from reports.services import assess_runs
    from tracking.models import Run as MirrorRun
    from tracking.services import source_create, sync_execute, sync_request

    source = source_create(name="demo-check", url=demo_server.url)
    assert sync_execute(sync_run=sync_request(source=source)).status == "succeeded"
    mirrored = {r.run_id: r for r in MirrorRun.objects.filter(source=source)}
    assess_runs(run_ids=[r.pk for r in mirrored.values()], version=default_policy)

    allowed_schemes = {"s3", "gs", "wasbs", "abfss", "https"}
    experiments = {e.experiment_id: e for e in client.search_experiments()}
    verdicts = set()
    for official in demo_runs:
        results = dict(
            RuleResult.objects.filter(
                assessment__run=mirrored[official.info.run_id], assessment__is_current=True
            ).values_list("rule_id", "outcome")
        )
        tags = official.data.tags
        classification = tags.get("classification", "").strip().casefold()
        assert results["data-classification"] == (
            "pass" if classification in ALLOWED_CLASSIFICATIONS else "fail"
        ), tags.get("classification")
        scheme = re.match(r"^([a-z][a-z0-9+.-]+):", official.info.artifact_uri or "")
        assert results["encryption"] == (
            "pass" if scheme and scheme.group(1) in allowed_schemes else "fail"
        ), official.info.artifact_uri
        user = (official.info.user_id or "").strip().casefold()
        logged = bool(official.data.params) and bool(official.data.metrics)
        assert results["audit-logging"] == (
            "pass" if logged and user not in ("", "unknown") else "fail"
        )
        experiment_tags = experiments[official.info.experiment_id].tags
        owned = any((experiment_tags.get(k) or "").strip() for k in ("department", "owner"))
        if owned:
            assert results["access-control"] == "pass"
        verdicts.add(
            Assessment.objects.get(run=mirrored[official.info.run_id], is_current=True).verdict
        )
    assert {"compliant", "non_compliant"} <= verdicts


@pytest.mark.django_db(transaction=True)
def test_demo_approvals_show_every_state_and_an_out_of_band_move(
    demo_server, seeded, client, default_policy, tmp_path, settings
):
    """What `make demo` shows on the approvals pages, made the way it makes it:
    the demo users through the workflow's services, delivery inline against the
    demo's real MLflow server, then an alias moved behind govdash's back."""
    from approvals.models import PromotionRequest
    from govdash.demo.approvals import seed_requests, wait_for_promotions
    from govdash.demo.seed import OUT_OF_BAND, move_alias_out_of_band
    from govdash.demo.users import ensure_demo_users
    from reports.services import assess_runs
    from tests.approvals.conftest import ensure_default_environments
    from tracking.models import AliasChange
    from tracking.models import Run as MirrorRun
    from tracking.services import source_create, sync_execute, sync_request

    settings.JOBS_INLINE = True
    ensure_default_environments()
    ensure_demo_users(path=tmp_path / "credentials.json")
    source = source_create(name="demo", url=demo_server.url)
    assert sync_execute(sync_run=sync_request(source=source)).status == "succeeded"
    assess_runs(
        run_ids=list(MirrorRun.objects.values_list("pk", flat=True)), version=default_policy
    )

    said: list[str] = []
    seed_requests(said.append)
    wait_for_promotions(timeout=30)
    assert not [line for line in said if "refused" in line], said

    def state(model: str, version: str, environment: str) -> tuple[str, str, int]:
        request = PromotionRequest.objects.get(
            version__model__name=model, version__version=version, environment__name=environment
        )
        return request.status, request.promotion, request.stage_index

    assert state("fraud-card-xgb", "4", "production") == ("open", "none", 0)
    assert state("benefits-triage-classifier", "3", "production") == ("open", "none", 1)
    assert state("call-wait-forecaster", "1", "production") == ("open", "none", 2)
    assert state("call-wait-forecaster", "2", "staging")[:2] == ("approved", "done")
    assert state("fraud-card-xgb", "2", "staging")[0] == "rejected"
    assert client.get_registered_model("call-wait-forecaster").aliases["staging"] == "2"

    model, alias, version = OUT_OF_BAND
    assert move_alias_out_of_band(demo_server.url)
    assert sync_execute(sync_run=sync_request(source=source)).status == "succeeded"
    alert = AliasChange.objects.open_alerts().get()
    assert (alert.model.name, alert.alias, alert.to_version) == (model, alias, version)
