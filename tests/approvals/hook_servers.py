"""Local HTTP receivers for promotion hooks, each in a thread.

* :class:`WebhookReceiver` checks the govdash signature the way docs/webhooks.md tells a
  receiver to (HMAC-SHA256 over ``<timestamp>.<body>`` with the shared secret, the timestamp
  recent), and answers what the test scripted: a status, a delay, or a redirect.
* :class:`GitLabTriggerFake` stands in for GitLab's ``POST /api/v4/projects/:id/trigger/pipeline``
  and enforces what GitLab's API documentation says of it: ``token`` and ``ref`` are
  required, a wrong token is a 404, an unknown ref a 400, variables come as
  ``variables[KEY]=value`` with KEY of letters, digits and ``_``; success is a 201 with the
  pipeline. Parameters may come in the query string or the form body, as GitLab accepts both.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    signature_ok: bool | None = None  # webhook only
    form: dict[str, list[str]] = field(default_factory=dict)  # GitLab only
    status: int = 0


@dataclass
class Script:
    status: int = 200
    body: bytes = b'{"ok": true}'
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class _Server:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._script: deque[Script] = deque()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                got = Received(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                status, answer, headers, delay = owner.handle(got)
                got.status = status
                with owner._lock:
                    owner.received.append(got)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *answers: Script) -> None:
        """Answer the next requests with these, in order; then the default answer."""
        self._script.extend(answers)

    def next_script(self, default: Script) -> Script:
        with self._lock:
            return self._script.popleft() if self._script else default

    def handle(self, got: Received) -> tuple[int, bytes, dict[str, str], float]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


class WebhookReceiver(_Server):
    def __init__(self, secret: str, *, tolerance: float = 300) -> None:
        super().__init__()
        self.secret = secret
        self.tolerance = tolerance

    def verify(self, got: Received) -> bool:
        timestamp = got.headers.get("x-govdash-timestamp", "")
        signature = got.headers.get("x-govdash-signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self.tolerance:
            return False
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + got.body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(signature, f"sha256={expected}")

    def handle(self, got: Received) -> tuple[int, bytes, dict[str, str], float]:
        got.signature_ok = self.verify(got)
        if not got.signature_ok:
            return 401, b'{"error": "bad signature"}', {}, 0.0
        answer = self.next_script(Script())
        return answer.status, answer.body, answer.headers, answer.delay

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.received]


GITLAB_PATH = re.compile(r"^/api/v4/projects/(?P<project>[^/]+)/trigger/pipeline$")
VARIABLE = re.compile(r"^variables\[(?P<key>[^\]]*)\]$")
VARIABLE_KEY = re.compile(r"^[a-zA-Z0-9_]+$")


class GitLabTriggerFake(_Server):
    def __init__(self, *, project: str, token: str, refs: tuple[str, ...] = ("main",)) -> None:
        super().__init__()
        self.project = project
        self.token = token
        self.refs = refs
        self.pipelines = 0

    @property
    def trigger_url(self) -> str:
        return f"{self.url}/api/v4/projects/{self.project}/trigger/pipeline"

    def handle(self, got: Received) -> tuple[int, bytes, dict[str, str], float]:
        parts = urlsplit(got.path)
        match = GITLAB_PATH.match(parts.path)
        if not match or match["project"] != self.project:
            return _json(404, {"message": "404 Project Not Found"})
        kind = got.headers.get("content-type", "")
        if got.body and not kind.startswith("application/x-www-form-urlencoded"):
            return _json(400, {"error": "unsupported content type"})
        form = parse_qs(parts.query, keep_blank_values=True)
        for key, values in parse_qs(got.body.decode(), keep_blank_values=True).items():
            form.setdefault(key, []).extend(values)
        got.form = form
        scripted = self.next_script(Script(status=0))
        if scripted.status:
            return scripted.status, scripted.body, scripted.headers, scripted.delay
        if not form.get("token", [""])[0]:
            return _json(400, {"error": "token is missing"})
        if not form.get("ref", [""])[0]:
            return _json(400, {"error": "ref is missing"})
        for key in form:
            if key in ("token", "ref"):
                continue
            variable = VARIABLE.match(key)
            if not variable:
                return _json(400, {"error": f"{key} does not have a valid value"})
            if not VARIABLE_KEY.match(variable["key"]):
                return _json(
                    400,
                    {
                        "message": {
                            "base": ["Variables key can contain only letters, digits and '_'."]
                        }
                    },
                )
        if len(form.get("token", [])) != 1 or not hmac.compare_digest(form["token"][0], self.token):
            return _json(404, {"message": "404 Not Found"})
        if form["ref"][0] not in self.refs:
            return _json(400, {"message": {"base": ["Reference not found"]}})
        self.pipelines += 1
        pipeline = 1000 + self.pipelines
        return _json(
            201,
            {
                "id": pipeline,
                "ref": form["ref"][0],
                "status": "created",
                "web_url": f"https://gitlab.example/group/project/-/pipelines/{pipeline}",
            },
        )

    def variables(self, got: Received) -> dict[str, str]:
        return {m["key"]: v[0] for k, v in got.form.items() if (m := VARIABLE.match(k)) is not None}


def _json(status: int, payload: Any) -> tuple[int, bytes, dict[str, str], float]:
    return status, json.dumps(payload).encode(), {"Content-Type": "application/json"}, 0.0
