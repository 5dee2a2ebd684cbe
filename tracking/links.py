"""Links from mirrored rows back to the server they came from."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from tracking.mlflow import REST_PREFIX
from tracking.models import Experiment, ModelVersion, RegisteredModel, Run, Source

_GITLAB_API = re.compile(r"^(?P<prefix>.*)/api/v4/projects/(?P<project>[^/]+)/ml/mlflow$")


def display_url(url: str) -> str:
    """The URL without any user:password part (source_create refuses those; belt and braces)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def unencrypted(url: str) -> bool:
    """Whether the source is reached over plain http (allowed: internal servers often are)."""
    return url.strip().lower().startswith("http://")


def _base(source: Source) -> tuple[str, str] | None:
    """(scheme://host, path) of the source, REST prefix removed; None if not http(s)."""
    parts = urlsplit(display_url(source.url.strip()))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    path = parts.path.rstrip("/")
    rest = "/" + REST_PREFIX.rstrip("/")
    if path.endswith(rest):
        path = path[: -len(rest)]
    return urlunsplit((parts.scheme, parts.netloc, "", "", "")), path


def mlflow_ui(source: Source) -> str | None:
    """The web UI the source belongs to: the MLflow UI, or the GitLab project page."""
    base = _base(source)
    if base is None:
        return None
    origin, path = base
    if source.kind == Source.Kind.GITLAB:
        match = _GITLAB_API.match(path)
        if match is None:
            return None
        project = unquote(match["project"])
        prefix = match["prefix"]
        if project.isdigit():
            # GitLab redirects /projects/<id> to the project's page.
            return f"{origin}{prefix}/projects/{project}"
        return f"{origin}{prefix}/{quote(project, safe='/')}"
    return f"{origin}{path}"


def _mlflow(source: Source, fragment: str) -> str | None:
    ui = mlflow_ui(source)
    if ui is None:
        return None
    if source.kind == Source.Kind.GITLAB:
        # GitLab's pages are addressed by its own ids, not MLflow's: the project is
        # as close as a link can sensibly get.
        return ui
    return f"{ui}/#/{fragment}"


def experiment_link(experiment: Experiment) -> str | None:
    return _mlflow(experiment.source, f"experiments/{quote(experiment.experiment_id, safe='')}")


def run_link(run: Run) -> str | None:
    return _mlflow(
        run.source,
        f"experiments/{quote(run.experiment.experiment_id, safe='')}"
        f"/runs/{quote(run.run_id, safe='')}",
    )


def model_link(model: RegisteredModel) -> str | None:
    return _mlflow(model.source, f"models/{quote(model.name, safe='')}")


def version_link(version: ModelVersion) -> str | None:
    model = version.model
    return _mlflow(
        model.source,
        f"models/{quote(model.name, safe='')}/versions/{quote(version.version, safe='')}",
    )
