"""Dashboard rollups kept by the writers equal a recomputation from the rows.

Runs come from a real mlflow server through the real sync, and are assessed
through the real services; the rollups are built once on the empty database
and from then on kept only by the writers (the assessment chunks and the
sync's ``runs_changing``). After each kind of change (new runs, assessment,
re-assessment of changed runs, a run deleted and restored upstream, a
classification changed, a policy published and applied, folds) the kept
figures must equal a recomputation (``rollups.check``), and the dashboard's
figures read from them must equal the live aggregation.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from mlflow import MlflowClient

from reports import rollups
from reports.models import ComplianceDelta, PolicyVersion, RollupState
from reports.selectors.assessing import runs_needing_assessment
from reports.selectors.common import ComplianceFilters
from reports.selectors.dashboard import filter_choices, live_summary, rollup_summary
from reports.services import assess_runs, policy_publish, policy_save_draft
from tests.conftest import DEFAULT_POLICY_FILE
from tracking.models import Experiment, Run, Source
from tracking.services import source_create, sync_execute, sync_request

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def upstream(mlflow_server):  # type: ignore[no-untyped-def]
    """Experiments and runs of this module's own on the session's server."""
    client = MlflowClient(tracking_uri=mlflow_server.url)
    stamp = int(time.time() * 1000)
    runs: list[str] = []
    week = 7 * 24 * 3600 * 1000
    for index, tags in enumerate([{"department": "Risk"}, {"owner": "bob"}, {}]):
        experiment_id = client.create_experiment(
            f"rollups-{stamp}-{index}", artifact_location=f"s3://bucket/{index}", tags=tags
        )
        for number in range(6):
            start = stamp - (number % 3) * week - 3600_000
            run = client.create_run(
                experiment_id,
                start_time=start,
                tags={
                    "mlflow.user": "" if number == 4 else "ana",
                    "classification": ["official", "Secret ", "top-secret", "public"][number % 4],
                },
            )
            client.set_terminated(run.info.run_id, end_time=start + 1000)
            runs.append(run.info.run_id)
    return client, runs


def _sync(source: Source) -> None:
    sync_run = sync_execute(sync_run=sync_request(source=source, full=True))
    assert sync_run.status == "succeeded", sync_run.error


def _assess(version: PolicyVersion) -> int:
    ids = list(runs_needing_assessment(version).values_list("pk", flat=True))
    assess_runs(run_ids=ids, version=version)
    return len(ids)


def _assert_rollups_hold(version: PolicyVersion) -> None:
    assert rollups.check() == {table: [] for table in rollups.TABLES}
    choices = filter_choices()
    scopes = [{}, {"classification": "secret"}, {"department": "risk"}, {"department": "(none)"}]
    scopes.append({"experiment": Experiment.objects.filter(runs__isnull=False).first()})
    for scope in scopes:
        filters = ComplianceFilters(policy=version.policy, version=version, **scope)
        kept = rollup_summary(filters, choices)
        live = live_summary(filters, choices)
        for figure in ("runs", "not_assessed", "awaiting", "trend", "failing_rules"):
            assert getattr(kept, figure) == getattr(live, figure), (figure, scope)
        for figure in ("totals", "by_source", "by_experiment", "by_department"):
            assert _plain(getattr(kept, figure)) == _plain(getattr(live, figure)), (figure, scope)
        assert _plain(kept.by_classification) == _plain(live.by_classification), scope


def _plain(value):  # type: ignore[no-untyped-def]
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return asdict(value)


def test_rollups_kept_by_the_writers_equal_a_recomputation_through_every_change(
    upstream, mlflow_server, default_policy
):  # type: ignore[no-untyped-def]
    client, run_ids = upstream
    rollups.rebuild()  # on the empty mirror: from now on only the writers keep them
    source = source_create(name="rollups", url=mlflow_server.url)

    _sync(source)
    # The session's MLflow server may hold other tests' runs too: all are mirrored.
    mirrored = Run.objects.filter(source=source)
    assert set(run_ids) <= set(mirrored.values_list("run_id", flat=True))
    assert _assess(default_policy) >= len(run_ids)
    assert not runs_needing_assessment(default_policy).filter(run_id__in=run_ids).exists()
    _assert_rollups_hold(default_policy)
    kept = rollup_summary(
        ComplianceFilters(policy=default_policy.policy, version=default_policy), filter_choices()
    )
    assert kept.totals.non_compliant
    assert kept.failing_rules

    # Upstream: one run deleted, one re-classified, one given a new tag (its
    # content changes: awaiting re-assessment until assessed again).
    client.delete_run(run_ids[0])
    client.set_tag(run_ids[1], "classification", "official")
    client.set_tag(run_ids[2], "note", "changed")
    _sync(source)
    assert Run.objects.get(run_id=run_ids[0]).lifecycle_stage == "deleted"
    _assert_rollups_hold(default_policy)
    assert _assess(default_policy) == 2  # the changed ones (the deleted run is out of scope)
    _assert_rollups_hold(default_policy)

    # A new policy version, published and applied to every run.
    text = DEFAULT_POLICY_FILE.read_text().replace("- id: retention", "- id: retention-v2", 1)
    draft = policy_save_draft(text=text, actor=None)
    version = policy_publish(version=draft, actor=None)
    _assert_rollups_hold(version)  # published, nothing assessed under it yet: all awaiting
    half = list(runs_needing_assessment(version).order_by("pk").values_list("pk", flat=True))
    assess_runs(run_ids=half[: len(half) // 2], version=version)
    _assert_rollups_hold(version)
    assert _assess(version) > 0
    _assert_rollups_hold(version)

    # The deleted run restored upstream: shown and counted again.
    client.restore_run(run_ids[0])
    _sync(source)
    _assert_rollups_hold(version)

    # Folding changes no figure; after it every row is folded, one per key.
    assert ComplianceDelta.objects.filter(folded=False).exists()
    folded = rollups.fold()
    assert folded["compliance"] > 0
    assert not ComplianceDelta.objects.filter(folded=False).exists()
    _assert_rollups_hold(version)
    assert rollups.fold() == dict.fromkeys(rollups.TABLES, 0)


def test_the_command_rebuilds_checks_and_folds(default_policy, capsys):  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="not built"):
        call_command("rollups", "check")
    call_command("rollups", "rebuild")
    assert RollupState.objects.exists()
    call_command("rollups", "check")
    assert "equal a recomputation" in capsys.readouterr().out
    # A count the rows do not hold is found, and a rebuild replaces it.
    ComplianceDelta.objects.create(
        policy=default_policy.policy,
        policy_version=default_policy,
        source_id=1,
        experiment_id=1,
        classification="",
        verdict="compliant",
        risk="none",
        fresh=True,
        runs=1,
        key="x",
    )
    with pytest.raises(CommandError, match="1 rollup key"):
        call_command("rollups", "check")
    call_command("rollups", "fold")
    call_command("rollups", "rebuild")
    call_command("rollups", "check")
