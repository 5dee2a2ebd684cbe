"""What a source supports, found by probing it with cheap calls that change nothing.

Vanilla ``mlflow server`` offers every endpoint govdash uses. GitLab's MLflow layer does not
(see docs/mlflow-endpoints.md): it searches runs one experiment at a time and ignores run
filters, has no ``model-versions/search``, no alias set/delete, no ``artifacts/list`` and no
stage transitions, and reports model times in seconds. What the client cannot absorb is reported
as :class:`~tracking.mlflow.types.Capabilities`, with a note for each limitation.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import AuthenticationFailed, EndpointNotSupported, RequestRejected, ResourceNotFound
from .transport import Transport
from .types import Capabilities

if TYPE_CHECKING:
    from .client import TrackingClient

# The largest page each server serves; the client asks for no more.
MLFLOW_MAX_RUNS_PAGE = 50_000
MLFLOW_MAX_EXPERIMENTS_PAGE = 50_000
MLFLOW_MAX_MODELS_PAGE = 1_000
MLFLOW_MAX_VERSIONS_PAGE = 200_000
GITLAB_MAX_PAGE = 1_000


def probe(client: TrackingClient, transport: Transport) -> Capabilities:
    """What the source behind ``client`` supports.

    Raises what the first call raises when the source is unusable (unreachable, bad
    credentials, not an MLflow endpoint).
    """
    notes: list[str] = []
    gitlab = transport.kind == "gitlab"
    first = client.search_experiments(max_results=1)

    multi = not gitlab
    run_filter = not gitlab
    if gitlab:
        notes.append("runs/search takes one experiment id: runs are read one experiment at a time")
        notes.append("runs/search ignores filter: govdash never sends one and filters runs itself")
        notes.append("runs carry no user; deleted runs are removed, not kept as 'deleted'")
    elif first.items:
        probe_filter = f"attributes.run_id = 'govdash-probe-{uuid.uuid4().hex}'"
        try:
            found = client.search_runs(
                [first.items[0].experiment_id], filter_string=probe_filter, max_results=1
            )
        except RequestRejected:
            run_filter = False
        else:
            run_filter = not found.items
        if not run_filter:
            notes.append("runs/search does not apply filters: govdash filters runs itself")

    model_version_search = endpoint_exists(
        transport, "GET", "model-versions/search", params={"max_results": 1}
    )
    if not model_version_search:
        notes.append(
            "no model-versions/search: versions are read from registered-models/get "
            + ("(GitLab lists every version there)" if gitlab else "(latest per stage only)")
        )

    # A model name that cannot exist: the endpoint answers "not found" if it exists at all.
    nobody = f"govdash-probe-{uuid.uuid4().hex}"
    try:
        alias_write = endpoint_exists(
            transport, "DELETE", "registered-models/alias", body={"name": nobody, "alias": "probe"}
        )
    except AuthenticationFailed:
        alias_write = False
        notes.append("the credentials may not write to the registry: aliases cannot be set")
    else:
        if not alias_write:
            notes.append("no alias set/delete: promotion must go through a webhook, not an alias")

    artifact_listing = endpoint_exists(transport, "GET", "artifacts/list")
    if not artifact_listing:
        notes.append("no artifacts/list: artifacts cannot be listed")
    if not endpoint_exists(transport, "POST", "model-versions/transition-stage", body={}):
        notes.append("no transition-stage: govdash keeps stage state itself")
    if gitlab:
        notes.append("current_stage is always 'development'")
        notes.append(
            "a version's number is GitLab's id; its semantic version is reported as semver"
        )
        notes.append("GitLab reports model times in seconds; converted to milliseconds")
    return Capabilities(
        kind=transport.kind,
        model_version_search=model_version_search,
        alias_write=alias_write,
        run_filter=run_filter,
        multi_experiment_run_search=multi,
        artifact_listing=artifact_listing,
        max_runs_page=GITLAB_MAX_PAGE if gitlab else MLFLOW_MAX_RUNS_PAGE,
        notes=tuple(notes),
    )


def endpoint_exists(
    transport: Transport,
    method: str,
    endpoint: str,
    *,
    params: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
) -> bool:
    """True if the endpoint exists: any answer but 'no such endpoint' proves it."""
    try:
        transport.call(method, endpoint, params=params, body=body, parse=False)
    except EndpointNotSupported:
        return False
    except (ResourceNotFound, RequestRejected):
        return True
    return True
