"""Sync through faults: a source that fails, answers garbage or loops."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mlflow.entities import ViewType

from tests.tracking.gitlab_fake import FaultProxy, GitLabFake
from tracking import sync as sync_module
from tracking.models import Experiment, ModelVersion, RegisteredModel, Run, Source, SyncRun
from tracking.services import source_create, sync_execute, sync_request
from tracking.sources import client_for

pytestmark = pytest.mark.django_db

GITLAB_TOKEN = "glpat-api-token"


@pytest.fixture
def proxy(mlflow_server, world) -> Iterator[FaultProxy]:
    with FaultProxy(mlflow_server.url) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def small_pages(monkeypatch) -> None:
    # Several pages even for a small server, so faults can strike mid-sync.
    monkeypatch.setattr(sync_module, "PAGE_SIZE", 5)


def _official_run_count(world) -> int:
    ids = [e.experiment_id for e in world.client.search_experiments(view_type=ViewType.ALL)]
    return len(world.client.search_runs(ids, run_view_type=ViewType.ALL, max_results=5000))


def _run(source: Source, **client_options) -> SyncRun:
    options = {"backoff": 0.01, "max_retries": 2, **client_options}
    return sync_execute(sync_run=sync_request(source=source), client=client_for(source, **options))


def _fail_after_pages(proxy: FaultProxy, pages: int, **fault):  # type: ignore[no-untyped-def]
    """A progress callback that breaks the source once ``pages`` run pages are in."""
    seen = {"pages": 0}

    def progress(sync_run: SyncRun) -> None:
        if sync_run.phase.startswith("runs"):
            seen["pages"] += 1
            if seen["pages"] == pages:
                fault["apply"](proxy)

    return progress


def _sync_with_fault(source: Source, proxy: FaultProxy, apply) -> SyncRun:  # type: ignore[no-untyped-def]
    return sync_execute(
        sync_run=sync_request(source=source),
        client=client_for(source, backoff=0.01, max_retries=2),
        progress=_fail_after_pages(proxy, 2, apply=apply),
    )


@pytest.mark.usefixtures("small_pages")
@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(lambda p: p.fail_next(20, status=500), id="500s"),
        pytest.param(lambda p: p.break_next("truncated"), id="truncated-json"),
        pytest.param(lambda p: p.break_next("not_json"), id="not-json"),
        pytest.param(lambda p: p.break_next("disconnect", n=5), id="connection-dropped"),
        pytest.param(lambda p: p.break_next("repeat_page"), id="page-that-repeats"),
        pytest.param(
            lambda p: p.break_next("drop_key", key=["run_id", "run_uuid"]), id="missing-run-id"
        ),
    ],
)
def test_fault_mid_sync_fails_cleanly_then_resumes_to_a_complete_mirror(proxy, world, fault):
    source = source_create(name="flaky", url=proxy.url)
    first = _sync_with_fault(source, proxy, fault)
    assert first.status == "failed"
    assert first.error
    assert "\n" not in first.error
    assert first.checkpoint  # pages already written stay, with where to resume
    written = Run.objects.filter(source=source).count()
    assert 0 < written < _official_run_count(world)

    proxy.reset()
    second = _run(source)
    assert second.status == "succeeded", second.error
    assert second.resumed_from_id == first.pk
    assert Run.objects.filter(source=source).count() == _official_run_count(world)
    assert Run.objects.filter(source=source, gone_at__isnull=False).count() == 0
    shown = Source.objects.get(pk=source.pk).sync_runs.order_by("created_at").first()
    assert shown.error == first.error


@pytest.mark.usefixtures("small_pages")
def test_resumed_sync_starts_at_the_checkpointed_page(proxy, world):
    source = source_create(name="resume", url=proxy.url)
    first = _sync_with_fault(source, proxy, lambda p: p.fail_next(20, status=503))
    token = first.checkpoint["page_token"]
    proxy.reset()
    _run(source)
    searches = [
        r
        for r in proxy.requests_to("runs/search")
        if "govdash-probe" not in (r.param("filter") or "")  # the capability probe
    ]
    assert searches[0].param("page_token") == token


def test_source_timing_out_fails_with_a_clear_message(proxy, world):
    source = source_create(name="slow", url=proxy.url)
    proxy.delay_next(3, n=10)
    sync_run = _run(source, timeout=(1, 0.5), max_retries=1)
    assert sync_run.status == "failed"
    assert "did not answer" in sync_run.error or "timed out" in sync_run.error


def test_gitlab_source_syncs_through_its_restrictions(mlflow_server, world, monkeypatch):
    monkeypatch.setenv("GOVDASH_SOURCE_TOKEN_GITLAB_TEST", GITLAB_TOKEN)
    with GitLabFake(mlflow_server.url) as gitlab:
        source = source_create(
            name="gitlab",
            url=gitlab.url,
            kind="gitlab",
            auth="bearer",
            secret_env="GOVDASH_SOURCE_TOKEN_GITLAB_TEST",
        )
        sync_run = _run(source)
        assert sync_run.status == "succeeded", sync_run.error
        searches = gitlab.requests_to("runs/search")
        assert searches
        assert all(len(r.param("experiment_ids")) == 1 for r in searches)
        assert all(r.param("filter") in (None, "") for r in searches)
        assert gitlab.requests_to("model-versions/search") == [] or all(
            r.status == 404 for r in gitlab.requests_to("model-versions/search")
        )

    source.refresh_from_db()
    caps = source.capabilities
    assert caps["kind"] == "gitlab"
    assert caps["model_version_search"] is False
    assert caps["alias_write"] is False
    assert caps["run_filter"] is False
    active_official = world.client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
    assert Experiment.objects.filter(source=source).count() >= len(active_official)
    assert Run.objects.filter(source=source).exists()
    assert RegisteredModel.objects.filter(source=source).exists()
    assert ModelVersion.objects.filter(model__source=source).exists()
    # GitLab's quirks arrive as they are: no user on runs.
    assert set(Run.objects.filter(source=source).values_list("user_id", flat=True)) == {""}


def test_gitlab_source_without_its_token_fails_naming_the_variable(mlflow_server, world):
    with GitLabFake(mlflow_server.url) as gitlab:
        source = source_create(
            name="gitlab-notoken",
            url=gitlab.url,
            kind="gitlab",
            auth="bearer",
            secret_env="GOVDASH_SOURCE_TOKEN_NO_SUCH_VARIABLE",
        )
        sync_run = sync_execute(sync_run=sync_request(source=source))
    assert sync_run.status == "failed"
    assert "GOVDASH_SOURCE_TOKEN_NO_SUCH_VARIABLE" in sync_run.error


def test_gitlab_source_with_a_wrong_token_fails_without_revealing_it(
    mlflow_server, world, monkeypatch
):
    monkeypatch.setenv("GOVDASH_SOURCE_TOKEN_WRONG", "glpat-wrong-secret-value")
    with GitLabFake(mlflow_server.url) as gitlab:
        source = source_create(
            name="gitlab-wrong",
            url=gitlab.url,
            kind="gitlab",
            auth="bearer",
            secret_env="GOVDASH_SOURCE_TOKEN_WRONG",
        )
        sync_run = _run(source)
    assert sync_run.status == "failed"
    assert "glpat-wrong-secret-value" not in sync_run.error
    assert "401" in sync_run.error or "auth" in sync_run.error.lower()
