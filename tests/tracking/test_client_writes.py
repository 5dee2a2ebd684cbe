"""The registry writes a promotion makes, against the real mlflow server and the GitLab fake."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from govdash.demo.mlflow_server import MlflowServer
from tracking.mlflow import NotSupported, ResourceNotFound, TrackingClient

from .conftest import GITLAB_TOKEN, Seed
from .gitlab_fake import GitLabFake


@pytest.fixture
def client(mlflow_server: MlflowServer, seed: Seed) -> TrackingClient:
    return TrackingClient(mlflow_server.url, "mlflow", backoff=0.01)


@pytest.fixture
def gitlab(gitlab_fake: GitLabFake) -> TrackingClient:
    return TrackingClient(gitlab_fake.url, "gitlab", token=GITLAB_TOKEN, backoff=0.01)


def test_set_registered_model_alias_points_and_moves_the_alias(
    client: TrackingClient, official: MlflowClient, seed: Seed
) -> None:
    client.set_registered_model_alias(seed.model, "govdash-test", "1")
    assert official.get_registered_model(seed.model).aliases["govdash-test"] == "1"

    client.set_registered_model_alias(seed.model, "govdash-test", "2")
    assert official.get_model_version_by_alias(seed.model, "govdash-test").version == "2"
    official.delete_registered_model_alias(seed.model, "govdash-test")


def test_set_model_version_tag_writes_the_tag(
    client: TrackingClient, official: MlflowClient, seed: Seed
) -> None:
    client.set_model_version_tag(seed.model, "3", "govdash.test", "yes ✓ <ok>")

    assert official.get_model_version(seed.model, "3").tags["govdash.test"] == "yes ✓ <ok>"
    official.delete_model_version_tag(seed.model, "3", "govdash.test")


def test_writes_to_a_missing_version_raise_resource_not_found(
    client: TrackingClient, seed: Seed
) -> None:
    with pytest.raises(ResourceNotFound, match="model-versions/set-tag"):
        client.set_model_version_tag(seed.model, "999", "k", "v")
    with pytest.raises(ResourceNotFound, match="registered-models/alias"):
        client.set_registered_model_alias(seed.model, "govdash-test", "999")


def test_gitlab_refuses_alias_and_version_tag_writes_without_sending_them(
    gitlab: TrackingClient, gitlab_fake: GitLabFake, seed: Seed
) -> None:
    with pytest.raises(NotSupported, match=r"cannot set model aliases.*environment hook"):
        gitlab.set_registered_model_alias(seed.model, "production", "1")
    with pytest.raises(NotSupported, match=r"cannot tag model versions.*environment hook"):
        gitlab.set_model_version_tag(seed.model, "1", "compliance_validated", "true")

    assert gitlab_fake.requests == []
