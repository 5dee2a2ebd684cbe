"""The one package that speaks MLflow REST: vanilla ``mlflow server`` or GitLab's MLflow layer.

Everything above it sees the frozen dataclasses of :mod:`.types` and the exceptions of
:mod:`.errors`; no Django model, no ``mlflow`` import. The two kinds of source differ (see
docs/mlflow-endpoints.md); the client absorbs the differences it can, and
:meth:`TrackingClient.probe` reports the rest as :class:`Capabilities`.

* :mod:`.errors`: the error hierarchy; messages are one line and free of secrets.
* :mod:`.types`: the dataclasses (Experiment, Run, RegisteredModel, ModelVersion, Page…).
* :mod:`.parsing`: strict JSON → dataclass parsing; a malformed answer is an error.
* :mod:`.transport`: HTTP session, credentials, timeouts, retries, HTTP status → error.
* :mod:`.capabilities`: probing what a source supports.
* :mod:`.client`: :class:`TrackingClient`, and the :class:`PageGuard` every paged listing uses.

Use it as ``from tracking import mlflow as remote`` or ``from tracking.mlflow import …``.
"""

from .client import DEFAULT_PAGE_SIZE, PageGuard, TrackingClient
from .errors import (
    AuthenticationFailed,
    EndpointNotSupported,
    MalformedResponse,
    MlflowError,
    NotSupported,
    RateLimited,
    RequestRejected,
    ResourceNotFound,
    SourceUnavailable,
)
from .transport import REST_PREFIX, rest_urls
from .types import (
    Capabilities,
    Experiment,
    MetricValue,
    ModelVersion,
    Page,
    RegisteredModel,
    Run,
    SourceKind,
    ViewType,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "REST_PREFIX",
    "AuthenticationFailed",
    "Capabilities",
    "EndpointNotSupported",
    "Experiment",
    "MalformedResponse",
    "MetricValue",
    "MlflowError",
    "ModelVersion",
    "NotSupported",
    "Page",
    "PageGuard",
    "RateLimited",
    "RegisteredModel",
    "RequestRejected",
    "ResourceNotFound",
    "Run",
    "SourceKind",
    "SourceUnavailable",
    "TrackingClient",
    "ViewType",
    "rest_urls",
]
