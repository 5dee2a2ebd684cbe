"""HTTP stand-ins for what cannot run here, in front of a real ``mlflow server``.

* :class:`GitLabFake` serves GitLab's MLflow layer
  (``/api/v4/projects/<id>/ml/mlflow/api/2.0/mlflow/…``) by proxying to a real vanilla MLflow
  server while enforcing GitLab's documented restrictions and reproducing its quirks, as read
  in GitLab's ``lib/api/ml/mlflow/*.rb``, ``lib/api/entities/ml/mlflow/*.rb`` and
  ``doc/user/project/ml/experiment_tracking/mlflow_client.md``.
* :class:`FaultProxy` forwards everything to a vanilla MLflow server unchanged.

Both inject faults on demand (``fail_next``, ``break_next``, ``delay_next``) and keep a log of
the requests they received (``requests``), so tests can assert what a client actually sent.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

import requests

REST = "/api/2.0/mlflow/"
BreakKind = Literal[
    "truncated", "not_json", "not_object", "repeat_page", "drop_key", "set_key", "disconnect"
]


@dataclass
class LoggedRequest:
    method: str
    path: str
    endpoint: str  # the part after /api/2.0/mlflow/, or the whole path
    query: dict[str, list[str]]
    json: Any  # the decoded body, None when there was none (or it was not JSON)
    headers: dict[str, str]  # lower-cased names
    status: int = 0  # what the fake answered; 0 when it dropped the connection

    def param(self, name: str) -> Any:
        """A parameter from the JSON body (POST) or the query string (GET)."""
        if isinstance(self.json, dict) and name in self.json:
            return self.json[name]
        values = self.query.get(name)
        if values is None:
            return None
        return values if len(values) > 1 else values[0]


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, **headers: str) -> Reply:
        return cls(status, json.dumps(payload).encode(), headers=headers)

    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    echo_headers: bool


@dataclass
class _Break:
    kind: BreakKind
    keys: frozenset[str]
    value: Any


# --------------------------------------------------------------------------- server plumbing


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so a stopped fake really stops answering.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        reply = self.server.app.handle(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            raw_body=raw,
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        if reply is None:  # drop the connection without a word
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (timeout tests)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: _FakeBase) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app = app


class _FakeBase:
    """A threaded loopback HTTP server with fault injection and a request log."""

    def __init__(self, upstream_url: str) -> None:
        self.upstream = upstream_url.rstrip("/")
        self.requests: list[LoggedRequest] = []
        self._lock = threading.Condition()
        self._in_flight = 0
        self._failures: deque[_Failure] = deque()
        self._breaks: deque[_Break] = deque()
        self._delays: deque[float] = deque()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        if self._server is None:
            self._server = _Server(self)
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever, name=type(self).__name__, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ switches

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        retry_after: str | float | None = None,
        headers: Mapping[str, str] | None = None,
        echo_headers: bool = False,
    ) -> None:
        """Answer the next ``n`` requests with ``status`` instead of serving them.

        ``echo_headers`` puts the request headers (Authorization included) in the error body,
        like a careless proxy would, to prove a client does not repeat secrets.
        """
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = str(retry_after)
        with self._lock:
            self._failures.extend(_Failure(status, extra, echo_headers) for _ in range(n))

    def break_next(
        self,
        kind: BreakKind,
        *,
        n: int = 1,
        key: str | Sequence[str] | None = None,
        value: Any = None,
    ) -> None:
        """Corrupt the next ``n`` successful answers.

        truncated: cut the JSON in half; not_json: an HTML page with status 200; not_object: a
        JSON array; drop_key: remove every ``key`` (one name or several) at any depth; set_key:
        set every ``key`` to ``value``;
        disconnect: close the connection without answering; repeat_page: answer a request
        carrying ``page_token=T`` with ``next_page_token=T`` (a server that loops forever;
        waits for a request that has a page token).
        """
        if kind in ("drop_key", "set_key") and not key:
            raise ValueError(f"{kind} needs key=")
        keys = frozenset([key] if isinstance(key, str) else key or ())
        with self._lock:
            self._breaks.extend(_Break(kind, keys, value) for _ in range(n))

    def delay_next(self, seconds: float, *, n: int = 1) -> None:
        """Wait ``seconds`` before answering each of the next ``n`` requests."""
        with self._lock:
            self._delays.extend(seconds for _ in range(n))

    def reset(self, *, timeout: float = 10.0) -> None:
        """Let requests still being answered finish, then forget pending faults and the log.

        Waiting matters: a request delayed by ``delay_next`` whose client gave up would
        otherwise wake up later and take a fault meant for the next test.
        """
        with self._lock:
            self._lock.wait_for(lambda: self._in_flight == 0, timeout=timeout)
            self._failures.clear()
            self._breaks.clear()
            self._delays.clear()
            self.requests.clear()

    def requests_to(self, endpoint: str) -> list[LoggedRequest]:
        with self._lock:
            return [r for r in self.requests if r.endpoint == endpoint]

    # ------------------------------------------------------------------ request handling

    def handle(
        self,
        *,
        method: str,
        path: str,
        query: dict[str, list[str]],
        raw_body: bytes,
        headers: dict[str, str],
    ) -> Reply | None:
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = None
        endpoint = path.split(REST, 1)[1] if REST in path else path
        logged = LoggedRequest(method, path, endpoint, query, body, headers)
        with self._lock:
            self.requests.append(logged)
            self._in_flight += 1
            delay = self._delays.popleft() if self._delays else 0.0
            failure = self._failures.popleft() if self._failures else None
        try:
            if delay:
                time.sleep(delay)
            if failure is not None:
                reply = self._failure_reply(failure, headers)
            else:
                reply = self.route(method, path, query, raw_body, body, headers)
                if reply is not None and reply.status == 200:
                    reply = self._maybe_break(reply, logged)
            logged.status = reply.status if reply is not None else 0
            return reply
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        raw_body: bytes,
        body: Any,
        headers: dict[str, str],
    ) -> Reply | None:
        raise NotImplementedError

    @staticmethod
    def _failure_reply(failure: _Failure, headers: Mapping[str, str]) -> Reply:
        payload: dict[str, Any] = {
            "error_code": "TEMPORARILY_UNAVAILABLE" if failure.status >= 500 else "BAD_REQUEST",
            "message": f"injected failure {failure.status}",
        }
        if failure.echo_headers:
            payload["message"] += f"; request headers were {dict(headers)}"
        return Reply.json(failure.status, payload, **failure.headers)

    def _maybe_break(self, reply: Reply, logged: LoggedRequest) -> Reply | None:
        with self._lock:
            if not self._breaks:
                return reply
            brk = self._breaks[0]
            page_token = logged.param("page_token")
            if brk.kind == "repeat_page" and not page_token:
                return reply  # wait for a request that asks for a later page
            self._breaks.popleft()
        if brk.kind == "disconnect":
            return None
        if brk.kind == "truncated":
            return Reply(200, reply.body[: max(1, len(reply.body) // 2)])
        if brk.kind == "not_json":
            return Reply(200, b"<html><body>Bad gateway</body></html>", content_type="text/html")
        payload = reply.payload()
        if brk.kind == "not_object":
            return Reply.json(200, [payload])
        if brk.kind == "repeat_page":
            payload["next_page_token"] = page_token
        elif brk.kind == "drop_key":
            payload = _rewrite(payload, brk.keys, drop=True)
        elif brk.kind == "set_key":
            payload = _rewrite(payload, brk.keys, drop=False, new=brk.value)
        return Reply.json(200, payload)

    # ------------------------------------------------------------------ upstream

    def forward(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        raw_body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        try:
            upstream = requests.request(
                method,
                self.upstream + path,
                params=query,
                data=raw_body or None,
                headers=dict(headers or {}),
                timeout=60,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return Reply.json(502, {"error_code": "BAD_GATEWAY", "message": type(exc).__name__})
        return Reply(
            upstream.status_code,
            upstream.content,
            content_type=upstream.headers.get("Content-Type", "application/json"),
        )

    def upstream_call(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Reply:
        raw = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return self.forward(method, REST + endpoint, query=params, raw_body=raw, headers=headers)


def _rewrite(value: Any, keys: frozenset[str], *, drop: bool, new: Any = None) -> Any:
    """``value`` with every key in ``keys`` (at any depth) removed, or set to ``new``."""
    if isinstance(value, dict):
        return {
            k: (new if k in keys else _rewrite(v, keys, drop=drop, new=new))
            for k, v in value.items()
            if not (drop and k in keys)
        }
    if isinstance(value, list):
        return [_rewrite(v, keys, drop=drop, new=new) for v in value]
    return value


# --------------------------------------------------------------------------- vanilla proxy


class FaultProxy(_FakeBase):
    """Forwards every request to a vanilla MLflow server; only the fault switches differ."""

    @property
    def url(self) -> str:
        return self.root

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        raw_body: bytes,
        body: Any,
        headers: dict[str, str],
    ) -> Reply | None:
        passed = {k: v for k, v in headers.items() if k in ("content-type", "authorization")}
        return self.forward(method, path, query=query, raw_body=raw_body, headers=passed)


# --------------------------------------------------------------------------- GitLab


Handler = Callable[["GitLabFake", dict[str, list[str]], Any, bytes, dict[str, str]], Reply]

_ORDER_RE = re.compile(r"^\s*(\S+?)(?:\s+(ASC|DESC))?\s*$", re.IGNORECASE)
_NAME_FILTER_RE = re.compile(r"^\s*name\s*=\s*'(.*)'\s*$")


def _bad(message: str) -> Reply:
    return Reply.json(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": message})


def _not_found() -> Reply:
    # GitLab's catch-all for routes it does not have.
    return Reply.json(404, {"error": "404 Not Found"})


def _quote_name(name: str) -> str:
    return f"name='{name}'" if "'" not in name else f'name="{name}"'


def _seconds(value: Any) -> Any:
    # GitLab writes model and version times with Ruby's Time#to_i.
    return value // 1000 if isinstance(value, int) else value


class GitLabFake(_FakeBase):
    """GitLab's MLflow API in front of a vanilla MLflow server.

    Enforced (GitLab source and docs): Bearer token required (401); a ``read_api`` token may
    only GET/HEAD (403 insufficient_scope); runs/search takes exactly one experiment id (400
    here; GitLab itself silently takes the first), ignores ``filter``, takes ``order_by`` as
    one string of created_at | name | metrics.<key> [ASC|DESC] (default created_at DESC),
    max_results default 200 and at most 1000 (400 above); experiments/search ignores filter;
    registered-models/search filters only on name='…'; model-versions/search, alias
    set/delete, transition-stage, artifacts/list and every other unlisted route are 404.

    Reproduced quirks: runs have ``user_id`` null and only active runs exist (GitLab deletes
    candidates outright); runs carry every logged metric value, not only the latest;
    experiments have no times and ``artifact_location`` 'not_implemented'; registered models
    have no ``aliases`` and list every version in ``latest_versions``; versions have
    ``current_stage`` 'development', ``user_id`` null and their semantic version in
    ``aliases``; model and version times are in seconds; get-latest-versions ignores stages
    and returns one version.
    """

    def __init__(
        self,
        upstream_url: str,
        *,
        project_id: int | str = 42,
        tokens: Mapping[str, str] | None = None,
        metric_history: bool = True,
    ) -> None:
        super().__init__(upstream_url)
        self.project_id = str(project_id)
        # token -> scope ("api" or "read_api")
        self.tokens = dict(tokens or {"glpat-api-token": "api", "glpat-read-token": "read_api"})
        self.metric_history = metric_history

    @property
    def url(self) -> str:
        """What a user configures as MLFLOW_TRACKING_URI."""
        return f"{self.root}/api/v4/projects/{self.project_id}/ml/mlflow"

    # ------------------------------------------------------------------ routing

    def route(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        raw_body: bytes,
        body: Any,
        headers: dict[str, str],
    ) -> Reply | None:
        match = re.fullmatch(r"/api/v4/projects/([^/]+)/ml/mlflow/api/2\.0/mlflow/(.+)", path)
        if not match:
            return _not_found()
        if match.group(1) != self.project_id:
            return Reply.json(404, {"message": "404 Project Not Found"})
        handler = _ROUTES.get((method, match.group(2)))
        if handler is None:
            return _not_found()
        auth = headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        scope = self.tokens.get(token)
        if scope is None:
            return Reply.json(401, {"message": "401 Unauthorized"})
        if scope != "api" and method not in ("GET", "HEAD"):
            return Reply.json(
                403,
                {
                    "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges than provided "
                    "by the access token.",
                    "scope": "api",
                },
            )
        return handler(self, query, body, raw_body, headers)

    # ------------------------------------------------------------------ experiments

    def _experiments_search(
        self, query: dict[str, list[str]], body: Any, raw: bytes, headers: dict[str, str]
    ) -> Reply:
        if not isinstance(body, dict):
            return _bad("a JSON body is required")
        max_results, error = _page_size(body.get("max_results"), cap=True)
        if error:
            return error
        order, error = _order(body.get("order_by"), {"created_at": "creation_time", "name": "name"})
        if error:
            return error
        upstream: dict[str, Any] = {
            "max_results": max_results,
            "order_by": [order or "creation_time DESC", "experiment_id ASC"],
            "view_type": "ALL",
        }  # filter: ignored, like GitLab
        if body.get("page_token"):
            upstream["page_token"] = body["page_token"]
        reply = self.upstream_call("POST", "experiments/search", body=upstream)
        if reply.status != 200:
            return reply
        payload = reply.payload()
        for exp in payload.get("experiments", []):
            for key in ("creation_time", "last_update_time", "workspace"):
                exp.pop(key, None)
            exp["artifact_location"] = "not_implemented"
        return Reply.json(200, payload)

    # ------------------------------------------------------------------ runs

    def _runs_search(
        self, query: dict[str, list[str]], body: Any, raw: bytes, headers: dict[str, str]
    ) -> Reply:
        if not isinstance(body, dict):
            return _bad("a JSON body is required")
        ids = body.get("experiment_ids")
        if not isinstance(ids, list) or len(ids) != 1:
            return _bad("experiment_ids supports only a single experiment ID")
        max_results, error = _page_size(body.get("max_results"), cap=False)
        if error:
            return error
        order, error = _order(
            body.get("order_by"),
            {"created_at": "attributes.start_time", "name": "attributes.run_name"},
            metrics=True,
        )
        if error:
            return error
        upstream: dict[str, Any] = {
            "experiment_ids": [str(ids[0])],
            "max_results": max_results,
            "order_by": [order or "attributes.start_time DESC"],
            "run_view_type": "ACTIVE_ONLY",
        }  # filter: dropped, GitLab ignores it
        if body.get("page_token"):
            upstream["page_token"] = body["page_token"]
        reply = self.upstream_call("POST", "runs/search", body=upstream)
        if reply.status != 200:
            return reply
        payload = reply.payload()
        payload["runs"] = [self._gitlab_run(run) for run in payload.get("runs", [])]
        return Reply.json(200, payload)

    def _runs_get(
        self, query: dict[str, list[str]], body: Any, raw: bytes, headers: dict[str, str]
    ) -> Reply:
        reply = self.upstream_call("GET", "runs/get", params=query)
        if reply.status != 200:
            return reply
        payload = reply.payload()
        if payload["run"]["info"].get("lifecycle_stage") == "deleted":
            return Reply.json(404, {"error_code": "RESOURCE_DOES_NOT_EXIST"})
        payload["run"] = self._gitlab_run(payload["run"])
        return Reply.json(200, payload)

    def _gitlab_run(self, run: dict[str, Any]) -> dict[str, Any]:
        info = run["info"]
        info["user_id"] = None
        info["lifecycle_stage"] = "active"
        info["start_time"] = info.get("start_time") or 0
        data = run.setdefault("data", {})
        if self.metric_history:
            history: list[dict[str, Any]] = []
            for metric in data.get("metrics", []):
                reply = self.upstream_call(
                    "GET",
                    "metrics/get-history",
                    params={"run_id": info["run_id"], "metric_key": metric["key"]},
                )
                history.extend(reply.payload().get("metrics", []) if reply.status == 200 else [])
            # GitLab lists metrics in insertion order, oldest first
            data["metrics"] = sorted(history, key=lambda m: (m.get("timestamp", 0), m["key"]))
        run.pop("inputs", None)
        run.pop("outputs", None)
        return run

    # ------------------------------------------------------------------ registry

    def _models_search(
        self, query: dict[str, list[str]], body: Any, raw: bytes, headers: dict[str, str]
    ) -> Reply:
        params: dict[str, Any] = {}
        if "filter" in query:
            match = _NAME_FILTER_RE.match(query["filter"][0])
            if not match:
                return _bad("Invalid attribute key specified. Valid keys are '{'name'}'")
            params["filter"] = _quote_name(match.group(1))
        raw_size = query.get("max_results", [None])[0]
        size: Any = int(raw_size) if raw_size is not None and raw_size.isdigit() else raw_size
        max_results, error = _page_size(size, cap=True)
        if error:
            return error
        order, error = _order(
            query.get("order_by", [None])[-1],
            {"name": "name", "last_updated_timestamp": "last_updated_timestamp"},
        )
        if error:
            return error
        params.update(max_results=max_results, order_by=[order or "name ASC"])
        if query.get("page_token"):
            params["page_token"] = query["page_token"][0]
        reply = self.upstream_call("GET", "registered-models/search", params=params)
        if reply.status != 200:
            return reply
        payload = reply.payload()
        payload["registered_models"] = [
            self._gitlab_model(m) for m in payload.get("registered_models", [])
        ]
        return Reply.json(200, payload)

    def _models_get(
        self, query: dict[str, list[str]], body: Any, raw: bytes, headers: dict[str, str]
    ) -> Reply:
        reply = self.upstream_call("GET", "registered-models/get", params=query)
        if reply.status != 200:
            return reply
        payload = reply.payload()
        payload["registered_model"] = self._gitlab_model(payload["registered_model"])
        return Reply.json(200, payload)

    def _latest_versions(
        self, query: dict[str, list[str]], body: Any, raw: bytes, headers: dict[str, str]
    ) -> Reply:
        name = body.get("name") if isinstance(body, dict) else None
        if not name:
            return Reply.json(404, {"error_code": "RESOURCE_DOES_NOT_EXIST"})
        versions = self._all_versions(name)
        if versions is None:
            return Reply.json(404, {"error_code": "RESOURCE_DOES_NOT_EXIST"})
        latest = max(versions, key=lambda v: int(v["version"]), default=None)
        return Reply.json(200, {"model_versions": [latest] if latest else []})

    def _versions_get(
        self, query: dict[str, list[str]], body: Any, raw: bytes, headers: dict[str, str]
    ) -> Reply:
        reply = self.upstream_call("GET", "model-versions/get", params=query)
        if reply.status != 200:
            return reply
        payload = reply.payload()
        payload["model_version"] = _gitlab_version(payload["model_version"])
        return Reply.json(200, payload)

    def _gitlab_model(self, model: dict[str, Any]) -> dict[str, Any]:
        model.pop("aliases", None)
        model.pop("workspace", None)
        for key in ("creation_timestamp", "last_updated_timestamp"):
            model[key] = _seconds(model.get(key))
        model["user_id"] = ""
        model["latest_versions"] = self._all_versions(model["name"]) or []
        return model

    def _all_versions(self, name: str) -> list[dict[str, Any]] | None:
        versions: list[dict[str, Any]] = []
        token = None
        while True:
            params: dict[str, Any] = {"filter": _quote_name(name), "max_results": 1000}
            if token:
                params["page_token"] = token
            reply = self.upstream_call("GET", "model-versions/search", params=params)
            if reply.status != 200:
                return None
            payload = reply.payload()
            versions.extend(_gitlab_version(v) for v in payload.get("model_versions", []))
            token = payload.get("next_page_token")
            if not token:
                return versions

    # ------------------------------------------------------------------ pass-through

    @staticmethod
    def _passthrough(method: str, endpoint: str) -> Handler:
        def handler(
            fake: GitLabFake,
            query: dict[str, list[str]],
            body: Any,
            raw: bytes,
            headers: dict[str, str],
        ) -> Reply:
            passed = {k: v for k, v in headers.items() if k == "content-type"}
            return fake.forward(method, REST + endpoint, query=query, raw_body=raw, headers=passed)

        return handler


def _gitlab_version(version: dict[str, Any]) -> dict[str, Any]:
    version["current_stage"] = "development"
    version["user_id"] = None
    version["status"] = "READY"
    version["status_message"] = ""
    version["run_link"] = ""
    version["aliases"] = [f"{version['version']}.0.0"]
    version.pop("workspace", None)
    for key in ("creation_timestamp", "last_updated_timestamp"):
        version[key] = _seconds(version.get(key))
    return version


def _page_size(value: Any, *, cap: bool) -> tuple[int, Reply | None]:
    if value is None:
        return 200, None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return 0, _bad("max_results is invalid")
    if value > 1000:
        if cap:
            return 1000, None
        return 0, _bad("max_results must be at most 1000")
    return value, None


def _order(
    value: Any, columns: Mapping[str, str], *, metrics: bool = False
) -> tuple[str | None, Reply | None]:
    """GitLab's order_by: one string (Grape rejects an array for a String parameter)."""
    if value is None or value == "":
        return None, None
    if not isinstance(value, str):
        return None, _bad("order_by is invalid")
    match = _ORDER_RE.match(value)
    if not match:
        return None, _bad("order_by is invalid")
    column, direction = match.group(1), (match.group(2) or "ASC").upper()
    if column in columns:
        return f"{columns[column]} {direction}", None
    if metrics and column.startswith("metrics.") and len(column) > len("metrics."):
        return f"metrics.`{column[len('metrics.') :]}` {direction}", None
    return None, _bad(f"order_by column {column!r} is not supported")


_PASSTHROUGH = [
    ("GET", "experiments/get"),
    ("GET", "experiments/get-by-name"),
    ("POST", "experiments/create"),
    ("POST", "experiments/set-experiment-tag"),
    ("POST", "experiments/delete"),
    ("POST", "runs/create"),
    ("POST", "runs/update"),
    ("POST", "runs/log-metric"),
    ("POST", "runs/log-parameter"),
    ("POST", "runs/set-tag"),
    ("POST", "runs/log-batch"),
    ("POST", "runs/delete"),
    ("GET", "metrics/get-history"),
    ("POST", "registered-models/create"),
    ("PATCH", "registered-models/update"),
    ("DELETE", "registered-models/delete"),
    ("POST", "model-versions/create"),
    ("PATCH", "model-versions/update"),
    ("GET", "model-versions/get-download-uri"),
]

# Every route GitLab's MLflow layer has; anything else answers 404.
_ROUTES: dict[tuple[str, str], Handler] = {
    **{(m, e): GitLabFake._passthrough(m, e) for m, e in _PASSTHROUGH},
    ("POST", "experiments/search"): GitLabFake._experiments_search,
    ("POST", "runs/search"): GitLabFake._runs_search,
    ("GET", "runs/get"): GitLabFake._runs_get,
    ("GET", "registered-models/search"): GitLabFake._models_search,
    ("GET", "registered-models/get"): GitLabFake._models_get,
    ("POST", "registered-models/get-latest-versions"): GitLabFake._latest_versions,
    ("GET", "model-versions/get"): GitLabFake._versions_get,
}
