"""The mirror's read API at /api/v1/, and starting a sync through it."""

from __future__ import annotations

import pytest
from django.test import Client

from govdash.services import token_create
from tests.tracking_pages.conftest import SCRIPT, Mirror, make_run
from tracking.models import Experiment, SyncRun
from tracking.services import source_create, sync_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client: Client, make_user) -> Client:
    client.force_login(make_user("ana", "ml-engineer"))
    return client


@pytest.fixture
def officer(client: Client, make_user) -> Client:
    client.force_login(make_user("olivia", "compliance-officer"))
    return client


def _ok(response) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == 200, (response.status_code, response.content[:500])
    return response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sources",
        "/api/v1/sources/risk",
        "/api/v1/experiments",
        "/api/v1/runs",
        "/api/v1/runs/abc",
        "/api/v1/models",
        "/api/v1/models/1",
        "/api/v1/sync-runs/1",
    ],
)
def test_anonymous_callers_get_401(client: Client, mirror: Mirror, path: str):
    assert client.get(path).status_code == 401
    assert client.post("/api/v1/sources/risk/sync").status_code == 401


def test_sources_list_their_last_sync_and_never_a_credential(reader, mirror: Mirror):
    body = _ok(reader.get("/api/v1/sources"))
    by_name = {source["name"]: source for source in body}
    risk, gitlab = by_name["risk"], by_name["gitlab-fraud"]
    assert risk["credential"] == "environment"
    assert risk["secret_env"] == "GOVDASH_SOURCE_TOKEN_RISK"
    assert risk["last_sync"]["id"] == mirror.sync.pk
    assert risk["last_sync"]["duration_seconds"] == 42.0
    assert risk["last_sync"]["counts"] == {"runs": 8, "created": 8}
    assert gitlab["credential"] == "stored"
    assert gitlab["last_sync"] is None
    assert gitlab["capabilities"]["model_version_search"] is False
    assert gitlab["web_url"] == "https://gitlab.example.gov/projects/42"
    for source in body:
        assert "secret_encrypted" not in source
    assert mirror.other.secret_encrypted not in str(body)


def test_one_source_by_name(reader, mirror: Mirror):
    body = _ok(reader.get("/api/v1/sources/risk"))
    assert body["kind"] == "mlflow"
    assert body["last_sync"]["status"] == "succeeded"
    assert reader.get("/api/v1/sources/nope").status_code == 404


def test_experiments_hide_deleted_unless_asked(reader, mirror: Mirror):
    Experiment.objects.create(
        source=mirror.source,
        experiment_id="9",
        name="old",
        lifecycle_stage="deleted",
        content_hash="x",
    )
    names = [e["name"] for e in _ok(reader.get("/api/v1/experiments"))["items"]]
    assert "old" not in names
    body = _ok(reader.get("/api/v1/experiments", {"lifecycle": "deleted"}))
    assert [(e["name"], e["deleted"]) for e in body["items"]] == [("old", True)]


def test_runs_page_shape(reader, mirror: Mirror):
    body = _ok(reader.get("/api/v1/runs", {"limit": 2}))
    assert body["count"] == 7
    assert (body["limit"], body["offset"], body["next_offset"]) == (2, 0, 2)
    first = body["items"][0]
    assert set(first) == {
        "id",
        "source",
        "experiment",
        "run_id",
        "run_name",
        "status",
        "start_time",
        "end_time",
        "user_id",
        "lifecycle_stage",
        "deleted",
        "gone_at",
        "classification",
    }
    assert set(first["experiment"]) == {"id", "experiment_id", "name"}


def test_runs_pages_follow_each_other_to_the_end(reader, mirror: Mirror):
    seen, offset = [], 0
    while offset is not None:
        body = _ok(reader.get("/api/v1/runs", {"limit": 3, "offset": offset}))
        seen += [run["run_id"] for run in body["items"]]
        offset = body["next_offset"]
    assert len(seen) == len(set(seen)) == 7


def test_runs_are_filtered_like_the_table(reader, mirror: Mirror):
    def names(**query: object) -> set[str]:
        return {r["run_name"] for r in _ok(reader.get("/api/v1/runs", query))["items"]}

    assert names(tag="team=ops") == {"scoring run 3", "scoring run 4"}
    assert names(classification="secret", source="risk") == {"scoring run 1", "scoring run 3"}
    assert names(lifecycle="deleted") == {"deleted run", "gone run"}
    assert names(q="gitlab") == {"gitlab run"}
    assert names(experiment=mirror.hostile_experiment.pk) == {f"run {SCRIPT}"}


@pytest.mark.parametrize(
    "query",
    [{"limit": 501}, {"limit": 0}, {"offset": -1}, {"lifecycle": "gone"}, {"source": "nope"}],
)
def test_runs_refuse_bad_queries_with_422(reader, mirror: Mirror, query):
    assert reader.get("/api/v1/runs", query).status_code == 422


def test_runs_answer_a_bearer_token(client: Client, mirror: Mirror, make_user):
    ci = make_user("ci", "ml-engineer")
    _, secret = token_create(user=ci, name="ci", created_by=make_user("ada", "admin"))
    response = client.get("/api/v1/runs", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert response.json()["count"] == 7


def test_run_by_mlflow_run_id_with_everything_synced(reader, mirror: Mirror):
    run = mirror.runs[1]
    body = _ok(reader.get(f"/api/v1/runs/{run.run_id}"))
    assert body["run_id"] == run.run_id
    assert body["params"] == {"lr": "0.1"}
    assert body["metrics"] == {"auc": {"value": 0.9, "step": 3, "timestamp": 1740830400000}}
    assert body["tags"]["team"] == "risk"
    assert body["model_versions"] == [
        {
            "model_id": mirror.model.pk,
            "model": "credit-model",
            "version": "2",
            "aliases": ["production"],
        }
    ]
    assert body["web_url"] == f"https://mlflow.example.gov/#/experiments/1/runs/{run.run_id}"


def test_run_id_held_by_two_sources_needs_the_source(reader, mirror: Mirror):
    run = mirror.runs[0]
    other_experiment = Experiment.objects.get(source=mirror.other)
    make_run(mirror.other, other_experiment, run.run_id, run_name="twin")
    assert reader.get(f"/api/v1/runs/{run.run_id}").status_code == 409
    body = _ok(reader.get(f"/api/v1/runs/{run.run_id}", {"source": "gitlab-fraud"}))
    assert body["run_name"] == "twin"
    assert reader.get("/api/v1/runs/not-a-run").status_code == 404


def test_models_list_and_detail_with_alias_history(reader, mirror: Mirror):
    body = _ok(reader.get("/api/v1/models"))
    assert body["count"] == 1
    assert body["items"][0]["aliases"] == {"production": "2"}
    detail = _ok(reader.get(f"/api/v1/models/{mirror.model.pk}"))
    assert [v["version"] for v in detail["versions"]] == ["2", "1"]
    assert detail["versions"][0]["run"] == mirror.runs[1].pk
    assert detail["open_alerts"] == 1
    history = detail["alias_history"]
    assert [(c["from_version"], c["to_version"], c["unapproved"]) for c in history] == [
        ("1", "2", True),
        ("", "1", False),
    ]
    assert history[0]["acknowledged_by"] is None
    assert reader.get("/api/v1/models/999999").status_code == 404


def test_sync_run_progress(reader, mirror: Mirror):
    sync_run = sync_request(source=mirror.source)
    SyncRun.objects.filter(pk=sync_run.pk).update(
        status="running", phase="models", progress_done=5, progress_total=20
    )
    body = _ok(reader.get(f"/api/v1/sync-runs/{sync_run.pk}"))
    assert (body["status"], body["phase"], body["percent"]) == ("running", "models", 25)
    assert body["source"] == "risk"


def test_reader_may_not_start_a_sync(reader, mirror: Mirror):
    response = reader.post("/api/v1/sources/risk/sync")
    assert response.status_code == 403
    assert not SyncRun.objects.active().exists()


@pytest.mark.redis
def test_compliance_officer_starts_a_sync_and_gets_202(officer, mirror: Mirror, redis_queue):
    queue = redis_queue("sync")
    response = officer.post("/api/v1/sources/risk/sync?full=true")
    assert response.status_code == 202
    body = response.json()
    sync_run = SyncRun.objects.get(pk=body["sync_run"]["id"])
    assert (sync_run.status, sync_run.full) == ("queued", True)
    assert body["sync_run"]["requested_by"] == "olivia"
    assert body["progress_url"] == f"/api/v1/sync-runs/{sync_run.pk}"
    assert queue.job_ids == [sync_run.job_id]


def test_second_sync_while_one_runs_gets_409_with_the_running_one(officer, mirror: Mirror):
    running = sync_request(source=mirror.source)
    response = officer.post("/api/v1/sources/risk/sync")
    assert response.status_code == 409
    assert response.json()["sync_run"]["id"] == running.pk


def test_sync_with_the_queue_down_gets_503(officer, mirror: Mirror, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = officer.post("/api/v1/sources/risk/sync")
    assert response.status_code == 503
    assert "job queue cannot be reached" in response.json()["detail"]


def test_sync_of_an_unknown_source_is_404(officer, db):
    source_create(name="risk", url="https://m.example.gov")
    assert officer.post("/api/v1/sources/nope/sync").status_code == 404


def test_openapi_schema_describes_the_tracking_endpoints(reader, db):
    schema = _ok(reader.get("/api/v1/openapi.json"))
    paths = schema["paths"]
    for path in (
        "/api/v1/sources",
        "/api/v1/sources/{name}",
        "/api/v1/sources/{name}/sync",
        "/api/v1/experiments",
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
        "/api/v1/models",
        "/api/v1/models/{model_id}",
        "/api/v1/sync-runs/{sync_run_id}",
    ):
        assert path in paths, path
    run_params = {p["name"] for p in paths["/api/v1/runs"]["get"]["parameters"]}
    assert {"limit", "offset", "source", "tag", "lifecycle", "classification", "q"} <= run_params
    assert "secret_encrypted" not in str(schema)
