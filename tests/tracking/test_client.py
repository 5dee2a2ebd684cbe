"""TrackingClient against a real ``mlflow server``, GitLab's rules (through the fake) and faults.

Every expectation is checked against what the official MLflow client reports for the same
server, never against hand-written JSON.
"""

from __future__ import annotations

import logging
import math
import time

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from govdash.demo.mlflow_server import MlflowServer
from tracking.mlflow import (
    AuthenticationFailed,
    EndpointNotSupported,
    MalformedResponse,
    MetricValue,
    NotSupported,
    RateLimited,
    RequestRejected,
    ResourceNotFound,
    Run,
    SourceUnavailable,
    TrackingClient,
)

from .conftest import GITLAB_READ_TOKEN, GITLAB_TOKEN, LONG_TAG, PAGING_RUNS, SCRIPT, Seed
from .extra_calls import delete_alias, get_model_version, get_run, iter_registered_models, set_alias
from .gitlab_fake import FaultProxy, GitLabFake


@pytest.fixture
def client(mlflow_server: MlflowServer, seed: Seed) -> TrackingClient:
    return TrackingClient(mlflow_server.url, "mlflow", backoff=0.01)


@pytest.fixture
def proxied(fault_proxy: FaultProxy) -> TrackingClient:
    return TrackingClient(fault_proxy.url, "mlflow", backoff=0.01, max_retries=2)


@pytest.fixture
def gitlab(gitlab_fake: GitLabFake) -> TrackingClient:
    return TrackingClient(gitlab_fake.url, "gitlab", token=GITLAB_TOKEN, backoff=0.01)


def _latest(official: MlflowClient, run_id: str, key: str) -> MetricValue:
    history = official.get_metric_history(run_id, key)
    best = history[0]
    for metric in history[1:]:
        if (metric.step, metric.timestamp, metric.value) > (best.step, best.timestamp, best.value):
            best = metric
    return MetricValue(best.value, best.timestamp, best.step)


def _same_metric(a: MetricValue, b: MetricValue) -> bool:
    values_match = a.value == b.value or (math.isnan(a.value) and math.isnan(b.value))
    return values_match and (a.timestamp, a.step) == (b.timestamp, b.step)


def _official_runs(official: MlflowClient, experiment_ids: list[str]) -> dict[str, object]:
    runs = official.search_runs(experiment_ids, run_view_type=ViewType.ALL, max_results=50_000)
    return {run.info.run_id: run for run in runs}


# --------------------------------------------------------------------------- vanilla: fields


def test_experiments_match_what_the_official_client_reports(
    client: TrackingClient, official: MlflowClient, seed: Seed
) -> None:
    expected = {e.experiment_id: e for e in official.search_experiments(view_type=ViewType.ALL)}
    got = {e.experiment_id: e for e in client.iter_experiments()}

    assert got.keys() == expected.keys()
    for experiment_id, exp in got.items():
        want = expected[experiment_id]
        assert exp.name == want.name
        assert exp.artifact_location == want.artifact_location
        assert exp.lifecycle_stage == want.lifecycle_stage
        assert exp.creation_time == want.creation_time
        assert exp.last_update_time == want.last_update_time
        assert exp.tags == want.tags
    main = got[seed.main_experiment]
    assert SCRIPT in main.name
    assert main.tags["long"] == LONG_TAG
    assert len(main.tags["long"]) == 5000
    assert main.artifact_location == seed.artifact_location
    assert got[seed.deleted_experiment].lifecycle_stage == "deleted"


def test_runs_match_what_the_official_client_reports_field_by_field(
    client: TrackingClient, official: MlflowClient, seed: Seed
) -> None:
    expected = _official_runs(official, seed.experiments)
    got = {run.run_id: run for run in client.iter_runs(seed.experiments)}

    assert got.keys() == expected.keys()
    for run_id, run in got.items():
        want = expected[run_id]
        info, data = want.info, want.data  # type: ignore[attr-defined]
        assert run.experiment_id == info.experiment_id
        assert run.run_name == info.run_name
        assert run.status == info.status
        assert run.start_time == info.start_time
        assert run.end_time == info.end_time
        assert run.user_id == (info.user_id or None)
        assert run.artifact_uri == info.artifact_uri
        assert run.lifecycle_stage == info.lifecycle_stage
        assert run.params == data.params
        assert run.tags == data.tags
        assert run.metrics.keys() == data.metrics.keys()
        for key, metric in run.metrics.items():
            assert _same_metric(metric, _latest(official, run_id, key)), (run_id, key)


def test_the_latest_metric_value_is_the_one_at_the_highest_step(
    client: TrackingClient, seed: Seed
) -> None:
    run = get_run(client, seed.full_run)

    assert run.metrics["loss"].step == 9
    assert run.metrics["loss"].value == pytest.approx(0.1)
    assert math.isnan(run.metrics["diverged"].value)


def test_unicode_and_markup_come_back_verbatim(client: TrackingClient, seed: Seed) -> None:
    run = get_run(client, seed.full_run)

    assert run.run_name == f"baseline {SCRIPT} ✓"
    assert run.params["html"] == SCRIPT
    assert run.params["ünï"] == "cødé ✓"
    assert run.tags["note"] == "checked by <b>Bob</b> & Zoë"
    assert run.tags["long"] == LONG_TAG


def test_a_run_without_user_or_end_time_has_none_for_them(
    client: TrackingClient, seed: Seed
) -> None:
    no_user = get_run(client, seed.no_user_run)
    running = get_run(client, seed.running_run)

    assert no_user.user_id is None
    assert running.end_time is None
    assert running.status == "RUNNING"


def test_deleted_runs_and_runs_of_deleted_experiments_are_listed(
    client: TrackingClient, seed: Seed
) -> None:
    runs = {run.run_id: run for run in client.iter_runs(seed.experiments)}

    assert runs[seed.deleted_run].lifecycle_stage == "deleted"
    assert seed.run_in_deleted_experiment in runs


def test_registered_models_match_what_the_official_client_reports(
    client: TrackingClient, official: MlflowClient, seed: Seed
) -> None:
    expected = {m.name: m for m in official.search_registered_models(max_results=1000)}
    got = {m.name: m for m in iter_registered_models(client)}

    assert got.keys() == expected.keys()
    assert {seed.model, seed.quoted_model, seed.empty_model} <= got.keys()
    for name, model in got.items():
        want = expected[name]
        assert model.description == (want.description or "")
        assert model.creation_timestamp == want.creation_timestamp
        assert model.last_updated_timestamp == want.last_updated_timestamp
        assert model.tags == want.tags
        assert model.aliases == want.aliases
    assert got[seed.model].aliases == {"champion": "2", "challenger": "3"}


def test_model_versions_match_the_official_client_aliases_included(
    client: TrackingClient, official: MlflowClient, seed: Seed
) -> None:
    for name in (seed.model, seed.quoted_model, seed.empty_model):
        expected = {
            v.version: official.get_model_version(name, v.version)
            for v in official.search_model_versions(f'name="{name}"')
        }
        got = {v.version: v for v in client.iter_model_versions(name)}

        assert got.keys() == expected.keys(), name
        for version, mv in got.items():
            want = expected[version]
            assert mv.name == want.name
            assert mv.source == want.source
            assert mv.run_id == (want.run_id or None)
            assert mv.status == want.status
            assert mv.current_stage == want.current_stage
            assert mv.creation_timestamp == want.creation_timestamp
            assert mv.last_updated_timestamp == want.last_updated_timestamp
            assert mv.tags == want.tags
            assert sorted(mv.aliases) == sorted(want.aliases)
            assert mv.description == (want.description or "")
            assert mv.semver is None
    versions = {v.version: v for v in client.iter_model_versions(seed.model)}
    assert versions["2"].aliases == ("champion",)
    assert versions["3"].aliases == ("challenger",)


def test_model_versions_come_in_version_order(client: TrackingClient, seed: Seed) -> None:
    page = client.search_model_versions(seed.model, max_results=10)

    assert [v.version for v in page.items] == ["1", "2", "3"]
    assert page.next_page_token is None


def test_get_model_version_reports_its_aliases(client: TrackingClient, seed: Seed) -> None:
    assert get_model_version(client, seed.model, "2").aliases == ("champion",)


def test_probe_finds_everything_on_vanilla_mlflow(client: TrackingClient) -> None:
    capabilities = client.probe()

    assert capabilities.kind == "mlflow"
    assert capabilities.model_version_search
    assert capabilities.alias_write
    assert capabilities.run_filter
    assert capabilities.multi_experiment_run_search
    assert capabilities.artifact_listing
    assert capabilities.max_runs_page == 50_000
    assert capabilities.notes == ()


def test_run_filter_is_passed_to_vanilla_mlflow(client: TrackingClient, seed: Seed) -> None:
    page = client.search_runs([seed.paging_experiment], filter_string="tags.i = '7'")

    assert [run.tags["i"] for run in page.items] == ["7"]


# --------------------------------------------------------------------------- vanilla: paging


def test_runs_pagination_returns_every_run_exactly_once(
    proxied: TrackingClient, fault_proxy: FaultProxy, seed: Seed
) -> None:
    run_ids = [run.run_id for run in proxied.iter_runs([seed.paging_experiment], page_size=4)]

    assert len(run_ids) == len(set(run_ids)) == PAGING_RUNS
    assert set(run_ids) == set(seed.paging_runs)
    assert len(fault_proxy.requests_to("runs/search")) == 4  # 13 runs, 4 a page


def test_runs_are_searched_in_a_stable_oldest_first_order(
    proxied: TrackingClient, fault_proxy: FaultProxy, seed: Seed
) -> None:
    runs = list(proxied.iter_runs([seed.paging_experiment], page_size=5))

    assert [r.start_time for r in runs] == sorted(r.start_time or 0 for r in runs)
    sent = fault_proxy.requests_to("runs/search")[0].json
    assert sent["order_by"] == ["attributes.start_time ASC", "attributes.run_id ASC"]


def test_runs_of_several_experiments_come_from_one_search_on_vanilla(
    proxied: TrackingClient, fault_proxy: FaultProxy, seed: Seed
) -> None:
    runs = list(proxied.iter_runs([seed.main_experiment, seed.other_experiment]))

    assert {r.experiment_id for r in runs} == {seed.main_experiment, seed.other_experiment}
    [request] = fault_proxy.requests_to("runs/search")
    assert request.json["experiment_ids"] == [seed.main_experiment, seed.other_experiment]


def test_experiment_pagination_returns_every_experiment_exactly_once(
    client: TrackingClient, official: MlflowClient
) -> None:
    ids = [e.experiment_id for e in client.iter_experiments(page_size=2)]

    expected = {e.experiment_id for e in official.search_experiments(view_type=ViewType.ALL)}
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    assert len(ids) > 4  # so at least three pages were read


def test_model_and_version_pagination_return_everything_exactly_once(
    client: TrackingClient, seed: Seed
) -> None:
    names = [m.name for m in iter_registered_models(client, page_size=1)]
    versions = [v.version for v in client.iter_model_versions(seed.model, page_size=1)]

    assert len(names) == len(set(names)) >= 3
    assert versions == ["1", "2", "3"]


def test_a_page_reports_the_token_of_the_next_one(client: TrackingClient, seed: Seed) -> None:
    first = client.search_runs([seed.paging_experiment], max_results=10)
    second = client.search_runs(
        [seed.paging_experiment], max_results=10, page_token=first.next_page_token
    )

    assert len(first.items) == 10
    assert first.next_page_token
    assert len(second.items) == PAGING_RUNS - 10
    assert second.next_page_token is None


# --------------------------------------------------------------------------- vanilla: writes


def test_set_run_tag_writes_back_to_mlflow(
    client: TrackingClient, official: MlflowClient, seed: Seed
) -> None:
    client.set_run_tag(seed.running_run, "govdash.assessment", "pass ✓ <ok>")

    assert official.get_run(seed.running_run).data.tags["govdash.assessment"] == "pass ✓ <ok>"


def test_set_and_delete_alias_change_the_registry(
    client: TrackingClient, official: MlflowClient, seed: Seed
) -> None:
    set_alias(client, seed.model, "staging", "1")
    assert official.get_registered_model(seed.model).aliases["staging"] == "1"

    delete_alias(client, seed.model, "staging")
    assert "staging" not in official.get_registered_model(seed.model).aliases


# --------------------------------------------------------------------------- vanilla: errors


def test_a_missing_run_raises_resource_not_found(client: TrackingClient) -> None:
    with pytest.raises(ResourceNotFound, match="runs/get"):
        get_run(client, "0" * 32)


def test_a_url_that_is_not_mlflow_raises_endpoint_not_supported(
    mlflow_server: MlflowServer,
) -> None:
    client = TrackingClient(mlflow_server.url + "/not-mlflow", backoff=0.01)

    with pytest.raises(EndpointNotSupported, match="experiments/search"):
        client.search_experiments()


def test_a_rejected_request_is_not_retried(
    proxied: TrackingClient, fault_proxy: FaultProxy, seed: Seed
) -> None:
    with pytest.raises(RequestRejected, match="HTTP 400") as caught:
        proxied.search_runs([seed.main_experiment], order_by=["no_such_column"])

    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert len(fault_proxy.requests_to("runs/search")) == 1


def test_a_redirect_is_reported_not_followed(
    proxied: TrackingClient, fault_proxy: FaultProxy
) -> None:
    fault_proxy.fail_next(1, status=301, headers={"Location": "https://mlflow.example/"})

    with pytest.raises(RequestRejected, match=r"redirected experiments/search .* to https://"):
        proxied.search_experiments()

    assert len(fault_proxy.requests) == 1


def test_a_stopped_server_raises_source_unavailable_in_one_line(
    mlflow_server: MlflowServer,
) -> None:
    with FaultProxy(mlflow_server.url) as stopped:
        url = stopped.url
    client = TrackingClient(url, backoff=0.01)

    with pytest.raises(SourceUnavailable) as caught:
        client.search_experiments()

    message = str(caught.value)
    assert message == (
        f"MLflow at {url} did not answer experiments/search: connection refused after 5 attempts"
    )
    assert "\n" not in message


def test_a_500_then_success_is_retried_and_succeeds(
    proxied: TrackingClient, fault_proxy: FaultProxy, seed: Seed
) -> None:
    fault_proxy.fail_next(1, status=500)

    run = get_run(proxied, seed.full_run)

    assert run.run_id == seed.full_run
    assert [r.status for r in fault_proxy.requests] == [500, 200]


def test_500_forever_raises_source_unavailable_after_max_retries(
    proxied: TrackingClient, fault_proxy: FaultProxy
) -> None:
    fault_proxy.fail_next(10, status=503)

    with pytest.raises(SourceUnavailable, match=r"HTTP 503 Service Unavailable after 3 attempts"):
        proxied.search_experiments()

    assert len(fault_proxy.requests) == 3  # max_retries=2


def test_a_429_waits_as_long_as_retry_after_says(
    proxied: TrackingClient, fault_proxy: FaultProxy
) -> None:
    fault_proxy.fail_next(1, status=429, retry_after=1)

    started = time.monotonic()
    page = proxied.search_experiments(max_results=1)

    assert time.monotonic() - started >= 0.95  # backoff alone would be ~0.01 s
    assert len(page.items) == 1
    assert [r.status for r in fault_proxy.requests] == [429, 200]


def test_a_retry_after_beyond_the_limit_raises_rate_limited_at_once(
    fault_proxy: FaultProxy,
) -> None:
    client = TrackingClient(fault_proxy.url, backoff=0.01, max_retry_after=5)
    fault_proxy.fail_next(5, status=429, retry_after=3600)

    with pytest.raises(RateLimited, match="retry after 3600s"):
        client.search_experiments()

    assert len(fault_proxy.requests) == 1


def test_429_forever_raises_rate_limited(proxied: TrackingClient, fault_proxy: FaultProxy) -> None:
    fault_proxy.fail_next(10, status=429)

    with pytest.raises(RateLimited, match="after 3 attempts"):
        proxied.search_experiments()


def test_a_server_too_slow_to_answer_raises_source_unavailable(
    fault_proxy: FaultProxy,
) -> None:
    client = TrackingClient(fault_proxy.url, timeout=(1, 0.2), max_retries=1, backoff=0.01)
    fault_proxy.delay_next(1.0, n=2)

    with pytest.raises(SourceUnavailable, match=r"no answer within 0.2s after 2 attempts"):
        client.search_experiments()


def test_a_dropped_connection_is_retried(proxied: TrackingClient, fault_proxy: FaultProxy) -> None:
    fault_proxy.break_next("disconnect")

    assert proxied.search_experiments(max_results=1).items
    assert [r.status for r in fault_proxy.requests] == [0, 200]


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("truncated", "truncated or invalid JSON"),
        ("not_json", "not JSON (text/html"),
        ("not_object", "the body is an array, expected an object"),
    ],
)
def test_a_broken_body_raises_malformed_response(
    proxied: TrackingClient, fault_proxy: FaultProxy, seed: Seed, kind: str, message: str
) -> None:
    fault_proxy.break_next(kind)  # type: ignore[arg-type]

    with pytest.raises(MalformedResponse, match="runs/search") as caught:
        proxied.search_runs([seed.main_experiment])

    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert len(fault_proxy.requests) == 1  # a malformed answer is not retried


@pytest.mark.parametrize(
    ("kind", "key", "value", "message"),
    [
        ("drop_key", "info", None, "runs[0].info is missing"),
        ("drop_key", ("run_id", "run_uuid"), None, "runs[0].info.run_id is missing"),
        ("set_key", "start_time", "yesterday", "runs[0].info.start_time is a string"),
        ("set_key", "params", {"lr": "1"}, "runs[0].data.params is an object, expected an array"),
        ("set_key", "runs", "none", "answer.runs is a string, expected an array"),
        ("set_key", "next_page_token", 7, "answer.next_page_token is a number"),
    ],
)
def test_a_wrong_shape_raises_malformed_response_naming_the_field(
    proxied: TrackingClient,
    fault_proxy: FaultProxy,
    seed: Seed,
    kind: str,
    key: str | tuple[str, ...],
    value: object,
    message: str,
) -> None:
    fault_proxy.break_next(kind, key=key, value=value)  # type: ignore[arg-type]

    with pytest.raises(MalformedResponse) as caught:
        proxied.search_runs([seed.main_experiment], max_results=1)

    assert str(caught.value).startswith(f"MLflow at {fault_proxy.url} sent a malformed answer")
    assert message in str(caught.value)


def test_a_page_token_that_repeats_raises_malformed_response(
    proxied: TrackingClient, fault_proxy: FaultProxy, seed: Seed
) -> None:
    fault_proxy.break_next("repeat_page")

    with pytest.raises(MalformedResponse, match="repeats an earlier next_page_token"):
        for _ in proxied.iter_runs([seed.paging_experiment], page_size=5):
            pass

    assert len(fault_proxy.requests_to("runs/search")) == 2


def test_runs_are_yielded_one_page_at_a_time(
    proxied: TrackingClient, fault_proxy: FaultProxy, seed: Seed
) -> None:
    runs = proxied.iter_runs([seed.paging_experiment], page_size=5)

    first: Run = next(runs)

    assert first.experiment_id == seed.paging_experiment
    assert len(fault_proxy.requests_to("runs/search")) == 1


# --------------------------------------------------------------------------- secrets


def test_the_token_never_appears_in_messages_reprs_or_logs(
    fault_proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    token = "s3cr3t-token-value"
    client = TrackingClient(fault_proxy.url, token=token, backoff=0.01, max_retries=1)
    fault_proxy.fail_next(2, status=500, echo_headers=True)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(SourceUnavailable) as unavailable:
        client.search_experiments()
    fault_proxy.fail_next(1, status=400, echo_headers=True)
    with pytest.raises(RequestRejected) as rejected:
        client.search_experiments()

    assert fault_proxy.requests[0].headers["authorization"] == f"Bearer {token}"
    assert "request headers were" in str(rejected.value)  # the echo got through, scrubbed
    for text in (str(unavailable.value), str(rejected.value), repr(rejected.value)):
        assert token not in text
    assert token not in repr(client)
    assert token not in caplog.text


def test_basic_auth_password_is_scrubbed_too(fault_proxy: FaultProxy) -> None:
    client = TrackingClient(fault_proxy.url, basic_auth=("ann", "pa55-word-xyz"), max_retries=0)
    fault_proxy.fail_next(1, status=400, echo_headers=True)

    with pytest.raises(RequestRejected) as caught:
        client.search_experiments()

    header = fault_proxy.requests[0].headers["authorization"]
    assert header.startswith("Basic ")
    assert "pa55-word-xyz" not in str(caught.value)
    assert header.removeprefix("Basic ") not in str(caught.value)  # base64 of user:password
    assert "basic auth" in repr(client)


def test_a_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="must not contain credentials") as caught:
        TrackingClient("http://ann:hunter2@127.0.0.1:5000")

    assert "hunter2" not in str(caught.value)


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("configured", "kind", "rest_base"),
    [
        ("http://mlflow:5000", "mlflow", "http://mlflow:5000/api/2.0/mlflow/"),
        ("http://mlflow:5000/", "mlflow", "http://mlflow:5000/api/2.0/mlflow/"),
        ("https://x.org/mlflow/api/2.0/mlflow/", "mlflow", "https://x.org/mlflow/api/2.0/mlflow/"),
        (
            "https://gitlab.example/api/v4/projects/42/ml/mlflow",
            "gitlab",
            "https://gitlab.example/api/v4/projects/42/ml/mlflow/api/2.0/mlflow/",
        ),
        (
            "https://gitlab.example/api/v4/projects/grp%2Fproj/ml/mlflow/",
            "gitlab",
            "https://gitlab.example/api/v4/projects/grp%2Fproj/ml/mlflow/api/2.0/mlflow/",
        ),
    ],
)
def test_the_rest_base_is_built_from_the_configured_url(
    configured: str, kind: str, rest_base: str
) -> None:
    assert TrackingClient(configured, kind).rest_base == rest_base  # type: ignore[arg-type]


def test_a_gitlab_url_without_the_project_path_is_refused() -> None:
    with pytest.raises(ValueError, match=r"/api/v4/projects/<id>/ml/mlflow"):
        TrackingClient("https://gitlab.example", "gitlab")


# --------------------------------------------------------------------------- GitLab


def test_gitlab_requires_a_bearer_token(gitlab_fake: GitLabFake) -> None:
    client = TrackingClient(gitlab_fake.url, "gitlab", backoff=0.01)

    with pytest.raises(AuthenticationFailed, match=r"HTTP 401\); no credentials are configured"):
        client.search_experiments()


def test_gitlab_wrong_token_raises_authentication_failed_without_the_token(
    gitlab_fake: GitLabFake,
) -> None:
    client = TrackingClient(gitlab_fake.url, "gitlab", token="glpat-wrong-secret")

    with pytest.raises(AuthenticationFailed) as caught:
        client.iter_experiments().__next__()

    assert "glpat-wrong-secret" not in str(caught.value)
    assert caught.value.status == 401
    assert len(gitlab_fake.requests) == 1  # authentication failures are not retried


def test_gitlab_read_api_token_cannot_search_and_the_message_says_why(
    gitlab_fake: GitLabFake,
) -> None:
    client = TrackingClient(gitlab_fake.url, "gitlab", token=GITLAB_READ_TOKEN)

    with pytest.raises(AuthenticationFailed, match="needs a token with the api scope"):
        client.search_experiments()


def test_gitlab_runs_search_sends_one_experiment_at_a_time(
    gitlab: TrackingClient, gitlab_fake: GitLabFake, official: MlflowClient, seed: Seed
) -> None:
    wanted = [seed.main_experiment, seed.other_experiment, seed.paging_experiment]

    got = {run.run_id for run in gitlab.iter_runs(wanted, page_size=10)}

    active = official.search_runs(wanted, run_view_type=ViewType.ACTIVE_ONLY, max_results=1000)
    assert got == {run.info.run_id for run in active}
    sent = [request.json for request in gitlab_fake.requests_to("runs/search")]
    assert all(len(body["experiment_ids"]) == 1 for body in sent)
    assert {body["experiment_ids"][0] for body in sent} == set(wanted)
    assert all(request.status == 200 for request in gitlab_fake.requests)


def test_gitlab_runs_search_never_sends_a_filter(
    gitlab: TrackingClient, gitlab_fake: GitLabFake, seed: Seed
) -> None:
    list(gitlab.iter_runs([seed.paging_experiment]))

    with pytest.raises(NotSupported, match="ignores run filters"):
        gitlab.search_runs([seed.paging_experiment], filter_string="tags.i = '7'")

    sent = gitlab_fake.requests_to("runs/search")
    assert sent
    assert all("filter" not in request.json for request in sent)
    assert all(request.json["order_by"] == "created_at DESC" for request in sent)


def test_gitlab_runs_page_size_is_capped_at_1000(
    gitlab: TrackingClient, gitlab_fake: GitLabFake, seed: Seed
) -> None:
    gitlab.search_runs([seed.paging_experiment], max_results=50_000)

    assert gitlab_fake.requests_to("runs/search")[0].json["max_results"] == 1000


def test_gitlab_runs_match_the_official_client_except_for_gitlab_quirks(
    gitlab: TrackingClient, official: MlflowClient, seed: Seed
) -> None:
    expected = _official_runs(official, [seed.main_experiment])
    got = {run.run_id: run for run in gitlab.iter_runs([seed.main_experiment])}

    assert seed.deleted_run not in got  # GitLab deletes runs outright
    assert got.keys() == expected.keys() - {seed.deleted_run}
    for run_id, run in got.items():
        want = expected[run_id]
        info, data = want.info, want.data  # type: ignore[attr-defined]
        assert run.user_id is None  # GitLab does not report users
        assert (run.run_name, run.status, run.start_time, run.end_time) == (
            info.run_name,
            info.status,
            info.start_time,
            info.end_time,
        )
        assert run.params == data.params
        assert run.tags == data.tags
        assert run.metrics.keys() == data.metrics.keys()
        for key, metric in run.metrics.items():
            assert _same_metric(metric, _latest(official, run_id, key)), (run_id, key)


def test_gitlab_metric_history_is_reduced_to_the_latest_value(
    gitlab: TrackingClient, gitlab_fake: GitLabFake, seed: Seed
) -> None:
    run = get_run(gitlab, seed.full_run)

    assert run.metrics["loss"].step == 9
    assert run.metrics["loss"].value == pytest.approx(0.1)
    assert gitlab_fake.requests_to("runs/get")[0].status == 200


def test_gitlab_model_versions_come_without_model_versions_search(
    gitlab: TrackingClient, gitlab_fake: GitLabFake, official: MlflowClient, seed: Seed
) -> None:
    versions = list(gitlab.iter_model_versions(seed.model))

    expected = official.search_model_versions(f"name='{seed.model}'")
    assert [v.version for v in versions] == sorted(v.version for v in expected)
    assert {v.run_id for v in versions} == {seed.full_run, seed.running_run, seed.no_user_run}
    assert all(v.current_stage == "development" for v in versions)
    assert [v.semver for v in versions] == ["1.0.0", "2.0.0", "3.0.0"]
    assert all(v.aliases == () for v in versions)  # a semantic version is not an alias
    assert gitlab_fake.requests_to("model-versions/search") == []
    assert [r.endpoint for r in gitlab_fake.requests] == ["registered-models/get"]


def test_gitlab_model_times_in_seconds_become_milliseconds(
    gitlab: TrackingClient, official: MlflowClient, seed: Seed
) -> None:
    model = gitlab.get_registered_model(seed.model)
    [version] = [v for v in gitlab.iter_model_versions(seed.model) if v.version == "1"]

    want = official.get_registered_model(seed.model)
    assert model.creation_timestamp == want.creation_timestamp // 1000 * 1000
    want_version = official.get_model_version(seed.model, "1")
    assert version.creation_timestamp == want_version.creation_timestamp // 1000 * 1000


def test_gitlab_registered_models_are_listed_without_aliases(
    gitlab: TrackingClient, official: MlflowClient, seed: Seed
) -> None:
    got = {m.name: m for m in iter_registered_models(gitlab, page_size=1)}

    assert got.keys() == {m.name for m in official.search_registered_models()}
    assert got[seed.model].aliases == {}
    assert got[seed.model].tags == official.get_registered_model(seed.model).tags


def test_gitlab_experiments_are_listed_without_times(
    gitlab: TrackingClient, official: MlflowClient
) -> None:
    got = {e.experiment_id: e for e in gitlab.iter_experiments(page_size=2)}

    assert got.keys() == {e.experiment_id for e in official.search_experiments(ViewType.ALL)}
    assert all(e.creation_time is None for e in got.values())


def test_gitlab_set_alias_raises_endpoint_not_supported(gitlab: TrackingClient, seed: Seed) -> None:
    with pytest.raises(EndpointNotSupported, match="POST registered-models/alias"):
        set_alias(gitlab, seed.model, "champion", "1")


def test_gitlab_set_run_tag_writes_back(
    gitlab: TrackingClient, official: MlflowClient, seed: Seed
) -> None:
    gitlab.set_run_tag(seed.full_run, "govdash.gitlab", "yes")

    assert official.get_run(seed.full_run).data.tags["govdash.gitlab"] == "yes"


def test_gitlab_probe_reports_the_missing_features(
    gitlab: TrackingClient, gitlab_fake: GitLabFake
) -> None:
    capabilities = gitlab.probe()

    assert capabilities.kind == "gitlab"
    assert not capabilities.model_version_search
    assert not capabilities.alias_write
    assert not capabilities.run_filter
    assert not capabilities.multi_experiment_run_search
    assert not capabilities.artifact_listing
    assert capabilities.max_runs_page == 1000
    notes = " | ".join(capabilities.notes)
    for expected in ("one experiment", "ignores filter", "model-versions/search", "webhook"):
        assert expected in notes
    assert all("filter" not in (r.json or {}) for r in gitlab_fake.requests)


def test_gitlab_several_experiments_in_one_page_call_is_refused(
    gitlab: TrackingClient, seed: Seed
) -> None:
    with pytest.raises(NotSupported, match="one experiment at a time"):
        gitlab.search_runs([seed.main_experiment, seed.other_experiment])


def test_gitlab_faults_are_retried_like_any_other(
    gitlab: TrackingClient, gitlab_fake: GitLabFake
) -> None:
    gitlab_fake.fail_next(2, status=502)

    assert gitlab.search_experiments().items
    assert [r.status for r in gitlab_fake.requests] == [502, 502, 200]


def test_gitlab_repeated_page_token_raises_malformed_response(
    gitlab: TrackingClient, gitlab_fake: GitLabFake, seed: Seed
) -> None:
    gitlab_fake.break_next("repeat_page")

    with pytest.raises(MalformedResponse, match=r"GitLab at .* runs/search"):
        list(gitlab.iter_runs([seed.paging_experiment], page_size=5))
