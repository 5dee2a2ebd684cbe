"""HTTP to one MLflow REST API: URLs, session, credentials, timeouts, retries, errors.

:class:`Transport` sends one request and returns the decoded JSON object, or raises the
:mod:`~tracking.mlflow.errors` class that says what went wrong, in one line free of secrets.

Retries are tenacity's: a connection that fails, an answer that does not come in time or is cut
off, and the statuses 429 and 5xx are tried again, up to ``max_retries`` times, after exponential
backoff with jitter, or after as long as a ``Retry-After`` header asks (and not at all when it
asks for more than ``max_retry_after``). Every call the client makes is idempotent (searches,
gets, set-tag, alias set/delete), which is what makes retrying POST requests safe. Other answers
(2xx, 3xx, other 4xx, a malformed body) are never retried.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from .errors import (
    AuthenticationFailed,
    EndpointNotSupported,
    MalformedResponse,
    MlflowError,
    RateLimited,
    RequestRejected,
    ResourceNotFound,
    SourceUnavailable,
    scrub,
    secrets_of,
    squeeze,
)
from .parsing import ShapeError, decode_object
from .types import SourceKind

logger = logging.getLogger(__name__)

REST_PREFIX = "api/2.0/mlflow/"

# Failures worth another try: no connection, no answer in time, an answer cut off.
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def rest_urls(base_url: str, kind: SourceKind) -> tuple[str, str]:
    """(the source's URL as shown in messages, the URL REST endpoints are relative to).

    ``base_url`` is what users configure as ``MLFLOW_TRACKING_URI``: ``http://host:5000`` for
    MLflow, ``https://gitlab.example/api/v4/projects/<id>/ml/mlflow`` for GitLab. A URL that
    already ends in ``/api/2.0/mlflow`` is accepted too. Raises ValueError for anything else.
    """
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


class Transport:
    """One source's HTTP session; not thread-safe (it holds a ``requests.Session``)."""

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
        self.base_url, self.rest_base = rest_urls(base_url, kind)
        self.label = "GitLab" if kind == "gitlab" else "MLflow"
        self.auth_kind = "bearer token" if token else "basic auth" if basic_auth else "none"
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self._wait = _RetryAfterOrBackoff(backoff, max_backoff)
        self._secrets = secrets_of(token, basic_auth)
        self._session = session or requests.Session()
        self._session.headers.update({"Accept": "application/json", "User-Agent": "govdash"})
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"
        elif basic_auth:
            self._session.auth = basic_auth
        self._session.verify = verify

    def close(self) -> None:
        self._session.close()

    # ----------------------------------------------------------------- calls

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        parse: bool = True,
    ) -> dict[str, Any]:
        """The JSON object ``endpoint`` answers (``{}`` with ``parse=False``), or an error."""
        response = self._send(method, endpoint, params=params, body=body)
        status = response.status_code
        if 200 <= status < 300:
            if not parse:
                return {}
            with self.malformed(endpoint):
                return decode_object(
                    response.content, response.headers.get("Content-Type", "no Content-Type")
                )
        if 300 <= status < 400:
            location = response.headers.get("Location", "nowhere")
            raise RequestRejected(
                self._message(
                    f"{self.label} at {self.base_url} redirected {endpoint} (HTTP {status}) "
                    f"to {location}; configure the URL it redirects to"
                ),
                endpoint=endpoint,
                status=status,
            )
        self._raise_for_status(method, endpoint, response)

    @contextmanager
    def malformed(self, endpoint: str) -> Iterator[None]:
        """Turns a :class:`ShapeError` raised inside into a MalformedResponse naming the source."""
        try:
            yield
        except ShapeError as exc:
            raise self.error(MalformedResponse, endpoint, str(exc)) from None

    def error(
        self,
        cls: type[MlflowError],
        endpoint: str,
        what: str,
        *,
        status: int | None = None,
    ) -> MlflowError:
        """A ``cls`` for ``endpoint``, its message one line and scrubbed of secrets."""
        if cls is MalformedResponse:
            what = f"{self.label} at {self.base_url} sent a malformed answer to {endpoint}: {what}"
        return cls(self._message(what), endpoint=endpoint, status=status)

    def _message(self, text: str) -> str:
        return scrub(squeeze(text, 1000), self._secrets)

    # ----------------------------------------------------------------- retries

    def _send(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
    ) -> requests.Response:
        """The answer to the request, after retries; raises if there was none worth keeping."""
        url = self.rest_base + endpoint
        attempts = self.max_retries + 1

        def attempt() -> requests.Response:
            # Redirects are refused, not followed: requests would turn a POST into a GET.
            return self._session.request(
                method,
                url,
                params=params,
                json=body,
                timeout=self.timeout,
                allow_redirects=False,
            )

        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            retry=retry_if_exception(_transient) | retry_if_result(self._worth_retrying),
            wait=self._wait,
            before_sleep=lambda state: self._before_retry(endpoint, attempts, state),
            retry_error_callback=_last_outcome,
        )
        try:
            response: requests.Response = retrying(attempt)
        except requests.exceptions.SSLError as exc:
            raise self.error(
                SourceUnavailable,
                endpoint,
                f"{self.label} at {self.base_url} failed the TLS handshake for {endpoint}: "
                f"{_ssl_reason(exc)}",
            ) from None
        except _TRANSIENT as exc:
            raise self.error(
                SourceUnavailable,
                endpoint,
                f"{self.label} at {self.base_url} did not answer {endpoint}: "
                f"{self._describe(exc)} after {_attempts(attempts)}",
            ) from None
        except requests.RequestException as exc:
            raise self.error(
                MlflowError,
                endpoint,
                f"request to {self.label} at {self.base_url} ({endpoint}) failed: "
                f"{type(exc).__name__}",
            ) from None
        if _retryable_status(response.status_code):
            self._give_up(endpoint, response, attempts)
        return response

    def _worth_retrying(self, response: requests.Response) -> bool:
        if not _retryable_status(response.status_code):
            return False
        wait = _retry_after_seconds(response.headers.get("Retry-After"))
        return wait is None or wait <= self.max_retry_after

    def _before_retry(self, endpoint: str, attempts: int, state: RetryCallState) -> None:
        outcome = state.outcome
        if outcome is None:  # pragma: no cover - tenacity sleeps only after an attempt
            return
        if outcome.failed:
            reason = self._describe(outcome.exception())
        else:
            response: requests.Response = outcome.result()
            reason = _status_line(response)
            response.close()
        logger.warning(
            "%s at %s: %s for %s; retrying in %.2fs (attempt %d of %d)",
            self.label,
            self.base_url,
            scrub(reason, self._secrets),
            endpoint,
            state.upcoming_sleep,
            state.attempt_number + 1,
            attempts,
        )

    def _give_up(self, endpoint: str, response: requests.Response, attempts: int) -> NoReturn:
        """Raises for a 429 or 5xx that was not (or no longer) worth retrying."""
        status = response.status_code
        limited = status == 429
        reason = _status_line(response)
        where = f"{self.label} at {self.base_url}"
        wait = _retry_after_seconds(response.headers.get("Retry-After"))
        if wait is not None and wait > self.max_retry_after:
            raise self.error(
                RateLimited if limited else SourceUnavailable,
                endpoint,
                f"{where} answered {endpoint} with {reason} and asked to retry after "
                f"{wait:.0f}s, longer than the {self.max_retry_after:.0f}s allowed",
                status=status,
            )
        if limited:
            raise self.error(
                RateLimited,
                endpoint,
                f"{where} kept refusing {endpoint} as rate-limited ({reason}) "
                f"after {_attempts(attempts)}",
                status=429,
            )
        raise self.error(
            SourceUnavailable,
            endpoint,
            f"{where} did not answer {endpoint}: {reason} after {_attempts(attempts)}",
        )

    def _describe(self, exc: BaseException | None) -> str:
        """What went wrong with the connection, in a few words."""
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

    # ----------------------------------------------------------------- status → error

    def _raise_for_status(
        self, method: str, endpoint: str, response: requests.Response
    ) -> NoReturn:
        status = response.status_code
        error_code, server_says = _server_error(response)
        detail = f": {server_says}" if server_says else ""
        where = f"{self.label} at {self.base_url}"
        if status in (401, 403):
            hint = ""
            if self.auth_kind == "none":
                hint = "; no credentials are configured"
            elif self.kind == "gitlab" and status == 403 and method not in ("GET", "HEAD"):
                hint = (
                    "; GitLab needs a token with the api scope (read_api allows only GET, and "
                    "experiments and runs are searched with POST)"
                )
            raise self.error(
                AuthenticationFailed,
                endpoint,
                f"{where} refused the credentials for {endpoint} (HTTP {status}){hint}{detail}",
                status=status,
            )
        if status == 404 and error_code == "RESOURCE_DOES_NOT_EXIST":
            raise self.error(
                ResourceNotFound, endpoint, f"{where}: not found ({endpoint}){detail}", status=404
            )
        if status in (404, 405):
            hint = ""
            if self.kind == "gitlab" and status == 404:
                hint = " (or the token's user cannot see this project's model experiments)"
            raise self.error(
                EndpointNotSupported,
                endpoint,
                f"{where} does not offer {method} {endpoint} (HTTP {status}){hint}",
                status=status,
            )
        if 400 <= status < 500:
            raise RequestRejected(
                self._message(f"{where} rejected {endpoint} (HTTP {status}){detail}"),
                endpoint=endpoint,
                status=status,
                error_code=error_code,
            )
        raise self.error(
            MalformedResponse, endpoint, f"unexpected HTTP {status} {response.reason or ''}".strip()
        )


class _RetryAfterOrBackoff(wait_base):
    """As long as the answer's Retry-After says; else exponential backoff with equal jitter.

    "Equal jitter": at least half the exponential step, plus up to as much again at random, so
    retries from several clients still spread out.
    """

    def __init__(self, backoff: float, max_backoff: float) -> None:
        half, cap = backoff / 2, max_backoff / 2
        self._backoff = wait_exponential(multiplier=half, max=cap) + wait_random_exponential(
            multiplier=half, max=cap
        )

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and not outcome.failed:
            wait = _retry_after_seconds(outcome.result().headers.get("Retry-After"))
            if wait is not None:
                return wait
        return self._backoff(retry_state)


def _transient(exc: BaseException) -> bool:
    # An SSLError is a ConnectionError too, but another try would fail the same way.
    return isinstance(exc, _TRANSIENT) and not isinstance(exc, requests.exceptions.SSLError)


def _retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def _last_outcome(state: RetryCallState) -> requests.Response:
    """Out of attempts: the last answer is returned, the last exception raised, as they were."""
    if state.outcome is None:  # pragma: no cover - tenacity gives up only after an attempt
        raise RuntimeError("no attempt was made")
    response: requests.Response = state.outcome.result()
    return response


def _attempts(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


def _status_line(response: requests.Response) -> str:
    return f"HTTP {response.status_code} {response.reason or ''}".strip()


def _retry_after_seconds(value: str | None) -> float | None:
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


def _server_error(response: requests.Response) -> tuple[str | None, str]:
    """(MLflow error_code, the server's own one-line explanation) from an error answer."""
    try:
        payload = response.json()
    except ValueError:
        text = response.text if "html" not in response.headers.get("Content-Type", "") else ""
        return None, squeeze(text, 200)
    if not isinstance(payload, dict):
        return None, ""
    code = payload.get("error_code")
    said = payload.get("message") or payload.get("error_description") or payload.get("error") or ""
    return (code if isinstance(code, str) else None), squeeze(str(said), 200)


def _ssl_reason(exc: requests.exceptions.SSLError) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate not trusted (set a CA bundle with verify=)"
    return "TLS error"
