"""MLflow REST calls govdash itself never makes, which the tests use to check TrackingClient.

They are built from the client's own pieces (its transport, page guard and parsers), so they
behave as a client method would: same requests, same errors, same parsing.
"""

from __future__ import annotations

from collections.abc import Iterator

from tracking.mlflow import (
    DEFAULT_PAGE_SIZE,
    ModelVersion,
    RegisteredModel,
    Run,
    TrackingClient,
    parsing,
)


def get_run(client: TrackingClient, run_id: str) -> Run:
    endpoint = "runs/get"
    payload = client.transport.call("GET", endpoint, params={"run_id": run_id})
    with client.transport.malformed(endpoint):
        return parsing.parse_run(
            parsing.member(payload, "run"), "run", gitlab=client.kind == "gitlab"
        )


def get_model_version(client: TrackingClient, name: str, version: str) -> ModelVersion:
    endpoint = "model-versions/get"
    payload = client.transport.call("GET", endpoint, params={"name": name, "version": version})
    with client.transport.malformed(endpoint):
        return parsing.parse_model_version(
            parsing.member(payload, "model_version"),
            "model_version",
            gitlab=client.kind == "gitlab",
        )


def iter_registered_models(
    client: TrackingClient, *, page_size: int = DEFAULT_PAGE_SIZE
) -> Iterator[RegisteredModel]:
    return client.paginate(
        "registered-models/search",
        lambda token: client.search_registered_models(max_results=page_size, page_token=token),
    )


def set_alias(client: TrackingClient, name: str, alias: str, version: str) -> None:
    client.transport.call(
        "POST",
        "registered-models/alias",
        body={"name": name, "alias": alias, "version": str(version)},
        parse=False,
    )


def delete_alias(client: TrackingClient, name: str, alias: str) -> None:
    # MLflow reads DELETE parameters from a JSON body, as its own client sends them.
    client.transport.call(
        "DELETE", "registered-models/alias", body={"name": name, "alias": alias}, parse=False
    )
