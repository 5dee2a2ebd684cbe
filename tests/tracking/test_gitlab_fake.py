"""The GitLab fake enforces GitLab's documented restrictions (the client tests rely on it)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from .conftest import GITLAB_READ_TOKEN, GITLAB_TOKEN, Seed
from .gitlab_fake import GitLabFake


def _call(
    fake: GitLabFake,
    method: str,
    endpoint: str,
    *,
    token: str | None = GITLAB_TOKEN,
    body: Any = None,
    params: dict[str, Any] | None = None,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(
        method,
        f"{fake.url}/api/2.0/mlflow/{endpoint}",
        json=body,
        params=params,
        headers=headers,
        timeout=30,
    )


def test_gitlab_fake_refuses_requests_without_a_token(gitlab_fake: GitLabFake) -> None:
    response = _call(gitlab_fake, "GET", "registered-models/search", token=None)

    assert response.status_code == 401


def test_gitlab_fake_lets_a_read_api_token_get_but_not_post(gitlab_fake: GitLabFake) -> None:
    got = _call(gitlab_fake, "GET", "registered-models/search", token=GITLAB_READ_TOKEN)
    posted = _call(gitlab_fake, "POST", "experiments/search", token=GITLAB_READ_TOKEN, body={})

    assert got.status_code == 200
    assert posted.status_code == 403
    assert posted.json()["error"] == "insufficient_scope"


@pytest.mark.parametrize(
    "body",
    [
        {"experiment_ids": []},
        {"experiment_ids": ["0", "1"]},
        {"experiment_ids": ["0"], "max_results": 1001},
        {"experiment_ids": ["0"], "order_by": ["created_at DESC"]},  # an array, not a string
        {"experiment_ids": ["0"], "order_by": "params.lr"},
        {"experiment_ids": ["0"], "order_by": "attributes.start_time ASC"},
    ],
)
def test_gitlab_fake_rejects_runs_searches_gitlab_would_not_serve(
    gitlab_fake: GitLabFake, body: dict[str, Any]
) -> None:
    response = _call(gitlab_fake, "POST", "runs/search", body=body)

    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_gitlab_fake_ignores_run_filters(gitlab_fake: GitLabFake, seed: Seed) -> None:
    body = {"experiment_ids": [seed.paging_experiment], "filter": "tags.i = '7'"}

    runs = _call(gitlab_fake, "POST", "runs/search", body=body).json()["runs"]

    assert len(runs) > 1


def test_gitlab_fake_runs_have_no_user_and_default_to_200_a_page(
    gitlab_fake: GitLabFake, seed: Seed
) -> None:
    body = {"experiment_ids": [seed.main_experiment], "order_by": "created_at ASC"}

    runs = _call(gitlab_fake, "POST", "runs/search", body=body).json()["runs"]

    assert runs
    assert all(run["info"]["user_id"] is None for run in runs)
    assert gitlab_fake.requests_to("runs/search")[0].param("max_results") is None


@pytest.mark.parametrize(
    ("method", "endpoint"),
    [
        ("GET", "model-versions/search"),
        ("POST", "registered-models/alias"),
        ("DELETE", "registered-models/alias"),
        ("POST", "model-versions/transition-stage"),
        ("GET", "artifacts/list"),
    ],
)
def test_gitlab_fake_lacks_what_gitlab_lacks(
    gitlab_fake: GitLabFake, method: str, endpoint: str
) -> None:
    assert _call(gitlab_fake, method, endpoint, body={}).status_code == 404


def test_gitlab_fake_filters_registered_models_only_by_name(
    gitlab_fake: GitLabFake, seed: Seed
) -> None:
    by_name = _call(
        gitlab_fake, "GET", "registered-models/search", params={"filter": f"name='{seed.model}'"}
    )
    by_tag = _call(
        gitlab_fake, "GET", "registered-models/search", params={"filter": "tags.owner='risk'"}
    )

    assert [m["name"] for m in by_name.json()["registered_models"]] == [seed.model]
    assert by_tag.status_code == 400


def test_gitlab_fake_lists_every_version_as_latest_with_gitlab_quirks(
    gitlab_fake: GitLabFake, seed: Seed
) -> None:
    model = _call(gitlab_fake, "GET", "registered-models/get", params={"name": seed.model}).json()[
        "registered_model"
    ]

    assert "aliases" not in model
    assert sorted(v["version"] for v in model["latest_versions"]) == ["1", "2", "3"]
    assert {v["current_stage"] for v in model["latest_versions"]} == {"development"}
    assert model["creation_timestamp"] < 100_000_000_000  # seconds


def test_gitlab_fake_latest_versions_returns_one_version(
    gitlab_fake: GitLabFake, seed: Seed
) -> None:
    response = _call(
        gitlab_fake,
        "POST",
        "registered-models/get-latest-versions",
        body={"name": seed.model, "stages": ["Production"]},
    )

    assert [v["version"] for v in response.json()["model_versions"]] == ["3"]


def test_gitlab_fake_serves_only_its_own_project(gitlab_fake: GitLabFake) -> None:
    url = gitlab_fake.url.replace("/projects/42/", "/projects/43/")

    response = requests.get(
        f"{url}/api/2.0/mlflow/registered-models/search",
        headers={"Authorization": f"Bearer {GITLAB_TOKEN}"},
        timeout=30,
    )

    assert response.status_code == 404
