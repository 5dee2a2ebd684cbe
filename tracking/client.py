"""The one module that speaks MLflow REST: vanilla ``mlflow server`` or GitLab's MLflow layer.

Everything above this module sees frozen dataclasses and the exceptions defined here; no
Django model, no ``mlflow`` import. The two kinds of source differ (see
``/work/shared/design/MLFLOW-ENDPOINTS.md``); the differences are absorbed here and what
cannot be absorbed is reported by :meth:`TrackingClient.probe` as :class:`Capabilities`.

Conventions:

* Times are epoch milliseconds (``int``) or ``None`` when the source does not say.
* Page-level methods (``search_*``) return :class:`Page`; the ``iter_*`` generators page through
  and yield one item at a time, so memory stays bounded whatever the size of the source.
* Every failure is an :class:`MlflowError` subclass with a one-line message naming the source,
  the endpoint and what went wrong. Credentials never appear in messages, reprs or logs.
* All calls made here are idempotent (searches, gets, set-tag, alias set/delete), which is what
  makes retrying POST requests safe.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Generic, Literal, NoReturn, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests

logger = logging.getLogger(__name__)

SourceKind = Literal["mlflow", "gitlab"]
ViewType = Literal["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]

T = TypeVar("T")

REST_PREFIX = "api/2.0/mlflow/"
DEFAULT_PAGE_SIZE = 1000
# Server-side ceilings (MLflow: mlflow/store/*/__init__.py; GitLab: lib/api/ml/mlflow/*.rb).
MLFLOW_MAX_RUNS_PAGE = 50_000
MLFLOW_MAX_EXPERIMENTS_PAGE = 50_000
MLFLOW_MAX_MODELS_PAGE = 1_000
MLFLOW_MAX_VERSIONS_PAGE = 200_000
GITLAB_MAX_PAGE = 1_000

# Offset page tokens (MLflow's) only stay correct when the order is total and new rows sort last.
MLFLOW_RUN_ORDER = ("attributes.start_time ASC", "attributes.run_id ASC")
MLFLOW_EXPERIMENT_ORDER = ("experiment_id ASC",)
MLFLOW_MODEL_ORDER = ("name ASC",)
MLFLOW_VERSION_ORDER = ("version_number ASC",)
# GitLab paginates with keyset cursors, so any order is stable; this is its own default.
GITLAB_RUN_ORDER = "created_at DESC"
_GITLAB_ORDER_RE = re.compile(r"^(created_at|name|metrics\.\S.*?)(\s+(ASC|DESC))?$", re.IGNORECASE)

_SEMVER_RE = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
# Below this an epoch timestamp cannot be milliseconds (it would be before March 1973).
_SECONDS_CEILING = 100_000_000_000
_MAX_MESSAGE = 300


# --------------------------------------------------------------------------- errors


class MlflowError(Exception):
    """Base of every failure raised by this module; ``str()`` is one line, free of secrets."""

    def __init__(self, message: str, *, endpoint: str | None = None, status: int | None = None):
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status


class SourceUnavailable(MlflowError):
    """The source could not be reached, timed out or kept failing (5xx) after all retries."""


class RateLimited(SourceUnavailable):
    """The source kept answering 429, or asked us to wait longer than we are willing to."""


class AuthenticationFailed(MlflowError):
    """401/403: missing, wrong or under-scoped credentials."""


class NotSupported(MlflowError):
    """The source cannot do what was asked (see :class:`Capabilities`)."""


class EndpointNotSupported(NotSupported):
    """The server has no such endpoint (404 without an MLflow error code, or 405)."""


class ResourceNotFound(MlflowError):
    """The endpoint exists but the run/model/version asked for does not."""


class RequestRejected(MlflowError):
    """Another 4xx: the server refused the request as invalid (never retried)."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        error_code: str | None = None,
    ):
        super().__init__(message, endpoint=endpoint, status=status)
        self.error_code = error_code


class MalformedResponse(MlflowError):
    """The answer was not the JSON shape the endpoint promises."""


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class MetricValue:
    value: float
    timestamp: int | None
    step: int


@dataclass(frozen=True, slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str | None
    lifecycle_stage: str
    creation_time: int | None
    last_update_time: int | None
    tags: dict[str, str]


@dataclass(frozen=True, slots=True)
class Run:
    run_id: str
    experiment_id: str
    run_name: str | None
    status: str | None
    start_time: int | None
    end_time: int | None
    user_id: str | None
    artifact_uri: str | None
    lifecycle_stage: str
    params: dict[str, str]
    tags: dict[str, str]
    # The latest value per key, by MLflow's rule: greatest (step, timestamp, value).
    metrics: dict[str, MetricValue]


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    name: str
    description: str
    creation_timestamp: int | None
    last_updated_timestamp: int | None
    tags: dict[str, str]
    aliases: dict[str, str]  # alias -> version


@dataclass(frozen=True, slots=True)
class ModelVersion:
    name: str
    version: str
    source: str | None
    run_id: str | None
    status: str | None
    current_stage: str | None
    creation_timestamp: int | None
    last_updated_timestamp: int | None
    tags: dict[str, str]
    aliases: tuple[str, ...]
    description: str
    # GitLab's ``version`` is a database id; the version people see is a semantic version,
    # which GitLab reports in ``aliases``. It is moved here so it is not mistaken for an alias.
    semver: str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    kind: SourceKind
    model_version_search: bool
    alias_write: bool
    run_filter: bool
    multi_experiment_run_search: bool
    artifact_listing: bool
    max_runs_page: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)  # no slots: they break ``Page[Run](...)`` on Python 3.11
class Page(Generic[T]):
    items: tuple[T, ...]
    next_page_token: str | None = None


# --------------------------------------------------------------------------- shape checks


class _Shape(Exception):
    """A JSON shape problem, with a path like ``runs[3].info.run_id``; becomes MalformedResponse."""


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Shape(f"{where} is {_json_type(value)}, expected an object")
    return value


def _list(raw: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """An optional array (protobuf JSON leaves empty arrays out)."""
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Shape(f"{where}.{key} is {_json_type(value)}, expected an array")
    return value


def _req_str(raw: Mapping[str, Any], key: str, where: str) -> str:
    if key not in raw or raw[key] is None:
        raise _Shape(f"{where}.{key} is missing")
    value = raw[key]
    if not isinstance(value, str):
        raise _Shape(f"{where}.{key} is {_json_type(value)}, expected a string")
    if not value:
        raise _Shape(f"{where}.{key} is empty")
    return value


def _opt_str(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Shape(f"{where}.{key} is {_json_type(value)}, expected a string")
    return value


def _opt_int(raw: Mapping[str, Any], key: str, where: str) -> int | None:
    """An int64; protobuf's canonical JSON may write those as decimal strings."""
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise _Shape(f"{where}.{key} is a boolean, expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise _Shape(f"{where}.{key} is {_json_type(value)} ({value!r:.40}), expected an integer")


def _number(raw: Mapping[str, Any], key: str, where: str) -> float:
    if key not in raw or raw[key] is None:
        raise _Shape(f"{where}.{key} is missing")
    value = raw[key]
    if isinstance(value, bool):
        raise _Shape(f"{where}.{key} is a boolean, expected a number")
    if isinstance(value, int | float):
        return float(value)
    # protobuf JSON spells non-finite doubles as strings
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    raise _Shape(f"{where}.{key} is {_json_type(value)}, expected a number")


def _key_values(raw: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for index, item in enumerate(_list(raw, key, where)):
        here = f"{where}.{key}[{index}]"
        entry = _obj(item, here)
        name = _req_str(entry, "key", here)
        result[name] = _opt_str(entry, "value", here) or ""
    return result


def _latest_metrics(raw: Mapping[str, Any], where: str) -> dict[str, MetricValue]:
    """One value per key. MLflow sends only the latest; GitLab sends every logged value."""
    latest: dict[str, MetricValue] = {}
    for index, item in enumerate(_list(raw, "metrics", where)):
        here = f"{where}.metrics[{index}]"
        entry = _obj(item, here)
        key = _req_str(entry, "key", here)
        metric = MetricValue(
            value=_number(entry, "value", here),
            timestamp=_opt_int(entry, "timestamp", here),
            step=_opt_int(entry, "step", here) or 0,
        )
        current = latest.get(key)
        if current is None or _more_recent(metric, current):
            latest[key] = metric
    return latest


def _more_recent(a: MetricValue, b: MetricValue) -> bool:
    # The same comparison MLflow's SQL store uses to maintain latest_metrics.
    return (a.step, a.timestamp or 0, a.value) > (b.step, b.timestamp or 0, b.value)


def _ms(value: int | None, *, gitlab: bool) -> int | None:
    # GitLab writes model and version times with Ruby's Time#to_i: seconds.
    if gitlab and value is not None and 0 < value < _SECONDS_CEILING:
        return value * 1000
    return value


def _next_token(payload: Mapping[str, Any]) -> str | None:
    token = _opt_str(payload, "next_page_token", "answer")
    return token or None


def _parse_experiment(raw: object, where: str) -> Experiment:
    exp = _obj(raw, where)
    return Experiment(
        experiment_id=_req_str(exp, "experiment_id", where),
        name=_req_str(exp, "name", where),
        artifact_location=_opt_str(exp, "artifact_location", where),
        lifecycle_stage=_opt_str(exp, "lifecycle_stage", where) or "active",
        creation_time=_opt_int(exp, "creation_time", where),
        last_update_time=_opt_int(exp, "last_update_time", where),
        tags=_key_values(exp, "tags", where),
    )


def _parse_run(raw: object, where: str, *, gitlab: bool) -> Run:
    run = _obj(raw, where)
    if run.get("info") is None:
        raise _Shape(f"{where}.info is missing")
    info = _obj(run["info"], f"{where}.info")
    here = f"{where}.info"
    run_id = _opt_str(info, "run_id", here) or _opt_str(info, "run_uuid", here)
    if not run_id:
        raise _Shape(f"{here}.run_id is missing")
    data = _obj(run["data"], f"{where}.data") if run.get("data") is not None else {}
    tags = _key_values(data, "tags", f"{where}.data")
    start_time = _opt_int(info, "start_time", here)
    if gitlab and start_time == 0:
        start_time = None  # GitLab writes 0 when it does not know
    return Run(
        run_id=run_id,
        experiment_id=_req_str(info, "experiment_id", here),
        run_name=_opt_str(info, "run_name", here) or tags.get("mlflow.runName") or None,
        status=_opt_str(info, "status", here),
        start_time=start_time,
        end_time=_opt_int(info, "end_time", here),
        user_id=_opt_str(info, "user_id", here) or None,
        artifact_uri=_opt_str(info, "artifact_uri", here),
        lifecycle_stage=_opt_str(info, "lifecycle_stage", here) or "active",
        params=_key_values(data, "params", f"{where}.data"),
        tags=tags,
        metrics=_latest_metrics(data, f"{where}.data"),
    )


def _parse_registered_model(raw: object, where: str, *, gitlab: bool) -> RegisteredModel:
    model = _obj(raw, where)
    aliases: dict[str, str] = {}
    for index, item in enumerate(_list(model, "aliases", where)):
        here = f"{where}.aliases[{index}]"
        entry = _obj(item, here)
        aliases[_req_str(entry, "alias", here)] = _req_str(entry, "version", here)
    return RegisteredModel(
        name=_req_str(model, "name", where),
        description=_opt_str(model, "description", where) or "",
        creation_timestamp=_ms(_opt_int(model, "creation_timestamp", where), gitlab=gitlab),
        last_updated_timestamp=_ms(_opt_int(model, "last_updated_timestamp", where), gitlab=gitlab),
        tags=_key_values(model, "tags", where),
        aliases=aliases,
    )


def _parse_model_version(
    raw: object,
    where: str,
    *,
    gitlab: bool,
    model_aliases: Mapping[str, str] | None = None,
) -> ModelVersion:
    mv = _obj(raw, where)
    version = _req_str(mv, "version", where)
    listed: list[str] = []
    for index, item in enumerate(_list(mv, "aliases", where)):
        if not isinstance(item, str):
            raise _Shape(f"{where}.aliases[{index}] is {_json_type(item)}, expected a string")
        listed.append(item)
    semver = None
    if gitlab:
        semvers = [a for a in listed if _SEMVER_RE.match(a)]
        semver = semvers[0] if semvers else None
        listed = [a for a in listed if a not in semvers]
    # MLflow's model-versions/search leaves aliases out; the model's alias map has them.
    extra = sorted(a for a, v in (model_aliases or {}).items() if v == version and a not in listed)
    return ModelVersion(
        name=_req_str(mv, "name", where),
        version=version,
        source=_opt_str(mv, "source", where),
        run_id=_opt_str(mv, "run_id", where) or None,
        status=_opt_str(mv, "status", where),
        current_stage=_opt_str(mv, "current_stage", where),
        creation_timestamp=_ms(_opt_int(mv, "creation_timestamp", where), gitlab=gitlab),
        last_updated_timestamp=_ms(_opt_int(mv, "last_updated_timestamp", where), gitlab=gitlab),
        tags=_key_values(mv, "tags", where),
        aliases=tuple(listed + extra),
        description=_opt_str(mv, "description", where) or "",
        semver=semver,
    )


def _name_filter(name: str) -> str | None:
    """``name='…'`` in MLflow's filter syntax, or None when no quoting can express the name."""
    if "'" not in name:
        return f"name='{name}'"
    if '"' not in name:
        return f'name="{name}"'
    return None


def _one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- client


class TrackingClient:
    """A small, strict client for the parts of MLflow REST govdash needs.

    ``base_url`` is what users configure as ``MLFLOW_TRACKING_URI``: ``http://host:5000`` for
    MLflow, ``https://gitlab.example/api/v4/projects/<id>/ml/mlflow`` for GitLab. A URL that
    already ends in ``/api/2.0/mlflow`` is accepted too.

    A client holds a ``requests.Session``: use one client per thread.
    """

    def __init__(
        self,
        base_url: str,
        kind: SourceKind = "mlflow",
        *,
        token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        timeout: float | tuple[float, float] = (5, 30),
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 60.0,
        verify: bool | str = True,
        session: requests.Session | None = None,
    ) -> None:
        if kind not in ("mlflow", "gitlab"):
            raise ValueError(f"kind must be 'mlflow' or 'gitlab', not {kind!r}")
        if token and basic_auth:
            raise ValueError("give either token or basic_auth, not both")
        if max_retries < 0 or backoff < 0:
            raise ValueError("max_retries and backoff must not be negative")
        self.kind: SourceKind = kind
        self.base_url, self.rest_base = self._urls(base_url, kind)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        secrets = [token, *(basic_auth or ())]
        if basic_auth:
            # What an echoing proxy would show: the Authorization header, which decodes to both.
            secrets.append(base64.b64encode(":".join(basic_auth).encode()).decode())
        self._secrets = tuple(s for s in secrets if s)
        self._auth_kind = "bearer token" if token else "basic auth" if basic_auth else "none"
        self._session = session or requests.Session()
        self._session.headers.update({"Accept": "application/json", "User-Agent": "govdash"})
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"
        elif basic_auth:
            self._session.auth = basic_auth
        self._session.verify = verify
        # Learned from a 404; avoids asking again on every model.
        self._version_search_missing = kind == "gitlab"
        self._label = "GitLab" if kind == "gitlab" else "MLflow"

    @staticmethod
    def _urls(base_url: str, kind: SourceKind) -> tuple[str, str]:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the tracking URL must be an http(s) URL with a host")
        if parts.username or parts.password:
            # Not echoed: it would contain the password.
            raise ValueError("the tracking URL must not contain credentials; use basic_auth")
        if parts.query or parts.fragment:
            raise ValueError("the tracking URL must not have a query or fragment")
        path = parts.path.rstrip("/")
        if path.endswith("/" + REST_PREFIX.rstrip("/")):
            path = path[: -len(REST_PREFIX)]
        if kind == "gitlab" and not re.search(r"/api/v4/projects/[^/]+/ml/mlflow$", path):
            raise ValueError(
                "a GitLab tracking URL looks like <gitlab>/api/v4/projects/<id>/ml/mlflow, "
                f"not {urlunsplit((parts.scheme, parts.netloc, path, '', ''))}"
            )
        base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        return base, f"{base}/{REST_PREFIX}"

    def __repr__(self) -> str:
        return f"TrackingClient({self.base_url!r}, kind={self.kind!r}, auth={self._auth_kind!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- experiments

    def search_experiments(
        self,
        *,
        view_type: ViewType = "ALL",
        max_results: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
    ) -> Page[Experiment]:
        endpoint = "experiments/search"
        body: dict[str, Any]
        if self.kind == "gitlab":
            # GitLab ignores filter and view_type; its cursor pagination is stable by itself.
            body = {"max_results": min(max_results, GITLAB_MAX_PAGE)}
        else:
            body = {
                "view_type": view_type,
                "max_results": min(max_results, MLFLOW_MAX_EXPERIMENTS_PAGE),
                "order_by": list(MLFLOW_EXPERIMENT_ORDER),
            }
        if page_token:
            body["page_token"] = page_token
        payload = self._call("POST", endpoint, body=body)
        with self._shape(endpoint):
            items = tuple(
                _parse_experiment(raw, f"experiments[{i}]")
                for i, raw in enumerate(_list(payload, "experiments", "answer"))
            )
            return Page(items, _next_token(payload))

    def iter_experiments(
        self, *, view_type: ViewType = "ALL", page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[Experiment]:
        return self._paginate(
            "experiments/search",
            lambda token: self.search_experiments(
                view_type=view_type, max_results=page_size, page_token=token
            ),
        )

    # ----------------------------------------------------------------- runs

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str = "",
        order_by: Sequence[str] | None = None,
        run_view_type: ViewType = "ALL",
        max_results: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
    ) -> Page[Run]:
        """One page of runs. On GitLab: exactly one experiment id, and no filter."""
        endpoint = "runs/search"
        if isinstance(experiment_ids, str):
            raise TypeError("experiment_ids must be a list of ids, not a string")
        ids = [str(i) for i in experiment_ids]
        if not ids:
            return Page(())
        body: dict[str, Any]
        if self.kind == "gitlab":
            if len(ids) != 1:
                raise NotSupported(
                    f"GitLab searches runs in one experiment at a time, not {len(ids)}; "
                    "use iter_runs, which does that for you",
                    endpoint=endpoint,
                )
            if filter_string.strip():
                # GitLab would silently ignore it and return unfiltered runs.
                raise NotSupported(
                    "GitLab ignores run filters, so none is sent; filter the runs yourself "
                    "(capabilities.run_filter is False)",
                    endpoint=endpoint,
                )
            body = {
                "experiment_ids": ids,
                "order_by": self._gitlab_run_order(order_by),
                "max_results": min(max_results, GITLAB_MAX_PAGE),
            }
        else:
            body = {
                "experiment_ids": ids,
                "order_by": list(order_by) if order_by else list(MLFLOW_RUN_ORDER),
                "run_view_type": run_view_type,
                "max_results": min(max_results, MLFLOW_MAX_RUNS_PAGE),
            }
            if filter_string.strip():
                body["filter"] = filter_string
        if page_token:
            body["page_token"] = page_token
        payload = self._call("POST", endpoint, body=body)
        gitlab = self.kind == "gitlab"
        with self._shape(endpoint):
            items = tuple(
                _parse_run(raw, f"runs[{i}]", gitlab=gitlab)
                for i, raw in enumerate(_list(payload, "runs", "answer"))
            )
            return Page(items, _next_token(payload))

    @staticmethod
    def _gitlab_run_order(order_by: Sequence[str] | None) -> str:
        # GitLab declares order_by as one string (Grape rejects an array) and knows only
        # created_at, name and metrics.<key>.
        if not order_by:
            return GITLAB_RUN_ORDER
        if len(order_by) != 1 or not _GITLAB_ORDER_RE.match(order_by[0].strip()):
            raise NotSupported(
                "GitLab orders runs by one of created_at, name or metrics.<key> "
                f"(optionally ASC/DESC), not {list(order_by)!r}",
                endpoint="runs/search",
            )
        return order_by[0].strip()

    def iter_runs(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str = "",
        order_by: Sequence[str] | None = None,
        run_view_type: ViewType = "ALL",
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[Run]:
        """Every run of the experiments, page by page (one experiment at a time on GitLab)."""
        if isinstance(experiment_ids, str):
            raise TypeError("experiment_ids must be a list of ids, not a string")
        ids = [str(i) for i in experiment_ids]
        groups = [[i] for i in ids] if self.kind == "gitlab" else ([ids] if ids else [])
        for group in groups:

            def fetch(token: str | None, group: list[str] = group) -> Page[Run]:
                return self.search_runs(
                    group,
                    filter_string=filter_string,
                    order_by=order_by,
                    run_view_type=run_view_type,
                    max_results=page_size,
                    page_token=token,
                )

            yield from self._paginate("runs/search", fetch)

    def get_run(self, run_id: str) -> Run:
        endpoint = "runs/get"
        payload = self._call("GET", endpoint, params={"run_id": run_id})
        with self._shape(endpoint):
            if payload.get("run") is None:
                raise _Shape("run is missing")
            return _parse_run(payload["run"], "run", gitlab=self.kind == "gitlab")

    def set_run_tag(self, run_id: str, key: str, value: str) -> None:
        self._call(
            "POST",
            "runs/set-tag",
            body={"run_id": run_id, "key": key, "value": value},
            parse=False,
        )

    # ----------------------------------------------------------------- registry

    def search_registered_models(
        self, *, max_results: int = DEFAULT_PAGE_SIZE, page_token: str | None = None
    ) -> Page[RegisteredModel]:
        endpoint = "registered-models/search"
        params: dict[str, Any]
        if self.kind == "gitlab":
            params = {"max_results": min(max_results, GITLAB_MAX_PAGE)}
        else:
            params = {
                "max_results": min(max_results, MLFLOW_MAX_MODELS_PAGE),
                "order_by": list(MLFLOW_MODEL_ORDER),
            }
        if page_token:
            params["page_token"] = page_token
        payload = self._call("GET", endpoint, params=params)
        gitlab = self.kind == "gitlab"
        with self._shape(endpoint):
            items = tuple(
                _parse_registered_model(raw, f"registered_models[{i}]", gitlab=gitlab)
                for i, raw in enumerate(_list(payload, "registered_models", "answer"))
            )
            return Page(items, _next_token(payload))

    def iter_registered_models(
        self, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[RegisteredModel]:
        return self._paginate(
            "registered-models/search",
            lambda token: self.search_registered_models(max_results=page_size, page_token=token),
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        endpoint = "registered-models/get"
        payload = self._registered_model_payload(name)
        with self._shape(endpoint):
            return _parse_registered_model(
                payload["registered_model"], "registered_model", gitlab=self.kind == "gitlab"
            )

    def _registered_model_payload(self, name: str) -> dict[str, Any]:
        endpoint = "registered-models/get"
        payload = self._call("GET", endpoint, params={"name": name})
        with self._shape(endpoint):
            if payload.get("registered_model") is None:
                raise _Shape("registered_model is missing")
            _obj(payload["registered_model"], "registered_model")
        return payload

    def search_model_versions(
        self,
        name: str,
        *,
        max_results: int = DEFAULT_PAGE_SIZE,
        page_token: str | None = None,
        model_aliases: Mapping[str, str] | None = None,
    ) -> Page[ModelVersion]:
        """One page of a model's versions, ordered by version number where the server can.

        MLflow's search leaves ``aliases`` out of versions; pass the model's alias map
        (``RegisteredModel.aliases``) to have them filled in, or leave it None and one
        ``registered-models/get`` is made per call. Without ``model-versions/search``
        (GitLab), the versions come from ``registered-models/get`` in a single page.
        """
        endpoint = "model-versions/search"
        if not self._version_search_missing:
            name_filter = _name_filter(name)
            if name_filter is None:
                raise NotSupported(
                    "MLflow's filter syntax cannot quote a model name holding both ' and \"",
                    endpoint=endpoint,
                )
            params: dict[str, Any] = {
                "filter": name_filter,
                "max_results": min(max_results, MLFLOW_MAX_VERSIONS_PAGE),
                "order_by": list(MLFLOW_VERSION_ORDER),
            }
            if page_token:
                params["page_token"] = page_token
            try:
                payload = self._call("GET", endpoint, params=params)
            except EndpointNotSupported:
                logger.info(
                    "%s has no %s; reading versions from the model", self.base_url, endpoint
                )
                self._version_search_missing = True
            else:
                if model_aliases is None:
                    model_aliases = self.get_registered_model(name).aliases
                with self._shape(endpoint):
                    items = tuple(
                        _parse_model_version(
                            raw,
                            f"model_versions[{i}]",
                            gitlab=self.kind == "gitlab",
                            model_aliases=model_aliases,
                        )
                        for i, raw in enumerate(_list(payload, "model_versions", "answer"))
                    )
                    return Page(items, _next_token(payload))
        if page_token:
            raise ValueError("versions read from registered-models/get come in one page")
        return self._versions_from_model(name)

    def _versions_from_model(self, name: str) -> Page[ModelVersion]:
        # GitLab fills latest_versions with every version of the model; MLflow (when it lacks
        # model-versions/search, which no current release does) with the latest per stage.
        endpoint = "registered-models/get"
        payload = self._registered_model_payload(name)
        gitlab = self.kind == "gitlab"
        with self._shape(endpoint):
            model = payload["registered_model"]
            aliases = _parse_registered_model(model, "registered_model", gitlab=gitlab).aliases
            versions = [
                _parse_model_version(
                    raw,
                    f"registered_model.latest_versions[{i}]",
                    gitlab=gitlab,
                    model_aliases=aliases,
                )
                for i, raw in enumerate(_list(model, "latest_versions", "registered_model"))
            ]
        versions.sort(
            key=lambda v: (int(v.version) if v.version.isdigit() else math.inf, v.version)
        )
        return Page(tuple(versions))

    def iter_model_versions(
        self,
        name: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        model_aliases: Mapping[str, str] | None = None,
    ) -> Iterator[ModelVersion]:
        if model_aliases is None and not self._version_search_missing:
            model_aliases = self.get_registered_model(name).aliases
        return self._paginate(
            "model-versions/search",
            lambda token: self.search_model_versions(
                name, max_results=page_size, page_token=token, model_aliases=model_aliases
            ),
        )

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        endpoint = "model-versions/get"
        payload = self._call("GET", endpoint, params={"name": name, "version": version})
        with self._shape(endpoint):
            if payload.get("model_version") is None:
                raise _Shape("model_version is missing")
            return _parse_model_version(
                payload["model_version"], "model_version", gitlab=self.kind == "gitlab"
            )

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._call(
            "POST",
            "registered-models/alias",
            body={"name": name, "alias": alias, "version": str(version)},
            parse=False,
        )

    def delete_alias(self, name: str, alias: str) -> None:
        # MLflow reads DELETE parameters from a JSON body, as its own client sends them.
        self._call(
            "DELETE", "registered-models/alias", body={"name": name, "alias": alias}, parse=False
        )

    # ----------------------------------------------------------------- probing

    def probe(self) -> Capabilities:
        """What this source supports, found by cheap calls that change nothing.

        Raises what the first call raises when the source is unusable (unreachable, bad
        credentials, not an MLflow endpoint).
        """
        notes: list[str] = []
        gitlab = self.kind == "gitlab"
        first = self.search_experiments(max_results=1)

        multi = not gitlab
        run_filter = not gitlab
        if gitlab:
            notes.append(
                "runs/search takes one experiment id: runs are read one experiment at a time"
            )
            notes.append(
                "runs/search ignores filter: govdash never sends one and filters runs itself"
            )
            notes.append("runs carry no user; deleted runs are removed, not kept as 'deleted'")
        elif first.items:
            probe_filter = f"attributes.run_id = 'govdash-probe-{uuid.uuid4().hex}'"
            try:
                found = self.search_runs(
                    [first.items[0].experiment_id], filter_string=probe_filter, max_results=1
                )
            except RequestRejected:
                run_filter = False
            else:
                run_filter = not found.items
            if not run_filter:
                notes.append("runs/search does not apply filters: govdash filters runs itself")

        model_version_search = self._probe_endpoint(
            "GET", "model-versions/search", params={"max_results": 1}
        )
        if model_version_search:
            self._version_search_missing = False
        else:
            self._version_search_missing = True
            notes.append(
                "no model-versions/search: versions are read from registered-models/get "
                + ("(GitLab lists every version there)" if gitlab else "(latest per stage only)")
            )

        # A model name that cannot exist: the endpoint answers "not found" if it exists at all.
        nobody = f"govdash-probe-{uuid.uuid4().hex}"
        try:
            alias_write = self._probe_endpoint(
                "DELETE", "registered-models/alias", body={"name": nobody, "alias": "probe"}
            )
        except AuthenticationFailed:
            alias_write = False
            notes.append("the credentials may not write to the registry: aliases cannot be set")
        else:
            if not alias_write:
                notes.append(
                    "no alias set/delete: promotion must go through a webhook, not an alias"
                )

        artifact_listing = self._probe_endpoint("GET", "artifacts/list")
        if not artifact_listing:
            notes.append("no artifacts/list: artifacts cannot be listed")
        if not self._probe_endpoint("POST", "model-versions/transition-stage", body={}):
            notes.append("no transition-stage: govdash keeps stage state itself")
        if gitlab:
            notes.append("current_stage is always 'development'")
            notes.append(
                "a version's number is GitLab's id; its semantic version is reported as semver"
            )
            notes.append("GitLab reports model times in seconds; converted to milliseconds")
        return Capabilities(
            kind=self.kind,
            model_version_search=model_version_search,
            alias_write=alias_write,
            run_filter=run_filter,
            multi_experiment_run_search=multi,
            artifact_listing=artifact_listing,
            max_runs_page=GITLAB_MAX_PAGE if gitlab else MLFLOW_MAX_RUNS_PAGE,
            notes=tuple(notes),
        )

    def _probe_endpoint(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> bool:
        """True if the endpoint exists: any answer but 'no such endpoint' proves it."""
        try:
            self._call(method, endpoint, params=params, body=body, parse=False)
        except EndpointNotSupported:
            return False
        except (ResourceNotFound, RequestRejected):
            return True
        return True

    # ----------------------------------------------------------------- plumbing

    def _paginate(self, endpoint: str, fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
        token: str | None = None
        seen: set[str] = set()
        pages = 0
        while True:
            page = fetch(token)
            pages += 1
            next_token = page.next_page_token
            if next_token is not None and (next_token == token or next_token in seen):
                raise self._error(
                    MalformedResponse,
                    endpoint,
                    f"page {pages} repeats an earlier next_page_token; stopped instead of "
                    "looping forever",
                )
            yield from page.items
            if next_token is None:
                return
            seen.add(next_token)
            token = next_token

    def _shape(self, endpoint: str) -> _ShapeGuard:
        return _ShapeGuard(self, endpoint)

    def _error(
        self,
        cls: type[MlflowError],
        endpoint: str,
        what: str,
        *,
        status: int | None = None,
    ) -> MlflowError:
        if cls is MalformedResponse:
            message = (
                f"{self._label} at {self.base_url} sent a malformed answer to {endpoint}: {what}"
            )
        else:
            message = what
        return cls(self._scrub(_one_line(message, 1000)), endpoint=endpoint, status=status)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _call(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        parse: bool = True,
    ) -> dict[str, Any]:
        response = self._send(method, endpoint, params=params, body=body)
        status = response.status_code
        if 200 <= status < 300:
            return self._decode(endpoint, response) if parse else {}
        if 300 <= status < 400:
            location = response.headers.get("Location", "nowhere")
            raise RequestRejected(
                self._scrub(
                    _one_line(
                        f"{self._label} at {self.base_url} redirected {endpoint} (HTTP {status}) "
                        f"to {location}; configure the URL it redirects to",
                        1000,
                    )
                ),
                endpoint=endpoint,
                status=status,
            )
        self._raise_for_status(method, endpoint, response)

    def _send(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
    ) -> requests.Response:
        attempts = self.max_retries + 1
        url = self.rest_base + endpoint
        reason = ""
        limited = False
        for attempt in range(1, attempts + 1):
            delay = self._backoff_delay(attempt)
            try:
                # Redirects are refused, not followed: requests would turn a POST into a GET.
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as exc:
                raise self._error(
                    SourceUnavailable,
                    endpoint,
                    f"{self._label} at {self.base_url} failed the TLS handshake for {endpoint}: "
                    f"{_ssl_reason(exc)}",
                ) from None
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                reason = self._describe(exc)
                limited = False
            except requests.RequestException as exc:
                raise self._error(
                    MlflowError,
                    endpoint,
                    f"request to {self._label} at {self.base_url} ({endpoint}) failed: "
                    f"{type(exc).__name__}",
                ) from None
            else:
                status = response.status_code
                if status != 429 and status < 500:
                    return response
                limited = status == 429
                reason = f"HTTP {status} {response.reason or ''}".strip()
                wait = _retry_after(response.headers.get("Retry-After"))
                if wait is not None:
                    if wait > self.max_retry_after:
                        raise self._error(
                            RateLimited if limited else SourceUnavailable,
                            endpoint,
                            f"{self._label} at {self.base_url} answered {endpoint} with {reason} "
                            f"and asked to retry after {wait:.0f}s, longer than the "
                            f"{self.max_retry_after:.0f}s allowed",
                            status=status,
                        )
                    delay = wait
                response.close()
            if attempt < attempts:
                logger.warning(
                    "%s at %s: %s for %s; retrying in %.2fs (attempt %d of %d)",
                    self._label,
                    self.base_url,
                    self._scrub(reason),
                    endpoint,
                    delay,
                    attempt + 1,
                    attempts,
                )
                time.sleep(delay)
        plural = "attempt" if attempts == 1 else "attempts"
        if limited:
            raise self._error(
                RateLimited,
                endpoint,
                f"{self._label} at {self.base_url} kept refusing {endpoint} as rate-limited "
                f"({reason}) after {attempts} {plural}",
                status=429,
            )
        raise self._error(
            SourceUnavailable,
            endpoint,
            f"{self._label} at {self.base_url} did not answer {endpoint}: {reason} "
            f"after {attempts} {plural}",
        )

    def _backoff_delay(self, attempt: int) -> float:
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        # "Equal jitter": at least half the exponential step, so retries still spread out.
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto

    def _describe(self, exc: requests.RequestException) -> str:
        connect, read = self.timeout if isinstance(self.timeout, tuple) else (self.timeout,) * 2
        if isinstance(exc, requests.ConnectTimeout):
            return f"no connection within {connect:g}s"
        if isinstance(exc, requests.Timeout):
            return f"no answer within {read:g}s"
        text = str(exc).lower()
        if "refused" in text:
            return "connection refused"
        if any(
            s in text for s in ("name or service not known", "nodename nor servname", "resolve")
        ):
            return "host name not found"
        if "reset" in text:
            return "connection reset"
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return "answer cut off"
        if "remote end closed" in text or "remotedisconnected" in text or "aborted" in text:
            return "connection closed without an answer"
        return "connection failed"

    def _decode(self, endpoint: str, response: requests.Response) -> dict[str, Any]:
        content_type = response.headers.get("Content-Type", "no Content-Type")
        try:
            text = response.content.decode("utf-8")
        except UnicodeDecodeError:
            raise self._error(MalformedResponse, endpoint, "the body is not UTF-8") from None
        if not text.strip():
            raise self._error(MalformedResponse, endpoint, "empty body, expected a JSON object")
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            if text.lstrip()[:1] in ("{", "["):
                what = (
                    f"truncated or invalid JSON ({exc.msg} at character {exc.pos} of {len(text)})"
                )
            else:
                what = f"not JSON ({content_type}, starting {text[:40]!r})"
            raise self._error(MalformedResponse, endpoint, what) from None
        if not isinstance(payload, dict):
            raise self._error(
                MalformedResponse,
                endpoint,
                f"the body is {_json_type(payload)}, expected an object",
            )
        return payload

    def _raise_for_status(
        self, method: str, endpoint: str, response: requests.Response
    ) -> NoReturn:
        status = response.status_code
        error_code, server_says = _server_error(response)
        detail = f": {server_says}" if server_says else ""
        where = f"{self._label} at {self.base_url}"
        if status in (401, 403):
            hint = ""
            if self._auth_kind == "none":
                hint = "; no credentials are configured"
            elif self.kind == "gitlab" and status == 403 and method not in ("GET", "HEAD"):
                hint = (
                    "; GitLab needs a token with the api scope (read_api allows only GET, and "
                    "experiments and runs are searched with POST)"
                )
            raise self._error(
                AuthenticationFailed,
                endpoint,
                f"{where} refused the credentials for {endpoint} (HTTP {status}){hint}{detail}",
                status=status,
            )
        if status == 404 and error_code == "RESOURCE_DOES_NOT_EXIST":
            raise self._error(
                ResourceNotFound, endpoint, f"{where}: not found ({endpoint}){detail}", status=404
            )
        if status in (404, 405):
            hint = ""
            if self.kind == "gitlab" and status == 404:
                hint = " (or the token's user cannot see this project's model experiments)"
            raise self._error(
                EndpointNotSupported,
                endpoint,
                f"{where} does not offer {method} {endpoint} (HTTP {status}){hint}",
                status=status,
            )
        if 400 <= status < 500:
            raise RequestRejected(
                self._scrub(
                    _one_line(f"{where} rejected {endpoint} (HTTP {status}){detail}", 1000)
                ),
                endpoint=endpoint,
                status=status,
                error_code=error_code,
            )
        raise self._error(
            MalformedResponse, endpoint, f"unexpected HTTP {status} {response.reason or ''}".strip()
        )


class _ShapeGuard:
    """``with client._shape(endpoint):`` turns a _Shape into a MalformedResponse."""

    def __init__(self, client: TrackingClient, endpoint: str) -> None:
        self.client = client
        self.endpoint = endpoint

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, _Shape):
            raise self.client._error(MalformedResponse, self.endpoint, str(exc)) from None


def _server_error(response: requests.Response) -> tuple[str | None, str]:
    """(MLflow error_code, the server's own one-line explanation) from an error answer."""
    try:
        payload = response.json()
    except ValueError:
        text = response.text if "html" not in response.headers.get("Content-Type", "") else ""
        return None, _one_line(text, 200)
    if not isinstance(payload, dict):
        return None, ""
    code = payload.get("error_code")
    said = payload.get("message") or payload.get("error_description") or payload.get("error") or ""
    return (code if isinstance(code, str) else None), _one_line(str(said), 200)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _ssl_reason(exc: requests.exceptions.SSLError) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate not trusted (set a CA bundle with verify=)"
    return "TLS error"


__all__ = [
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
    "RateLimited",
    "RegisteredModel",
    "RequestRejected",
    "ResourceNotFound",
    "Run",
    "SourceKind",
    "SourceUnavailable",
    "TrackingClient",
    "ViewType",
]
