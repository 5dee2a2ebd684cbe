"""TrackingClient: the parts of MLflow REST govdash needs, from vanilla MLflow or GitLab.

The client builds each request the way the source expects it (page sizes, orders, GitLab's
restrictions), sends it through :class:`~tracking.mlflow.transport.Transport` and parses the
answer with :mod:`~tracking.mlflow.parsing`. Page-level methods (``search_*``) return a
:class:`~tracking.mlflow.types.Page`; the ``iter_*`` generators page through and yield one item
at a time, so memory stays bounded whatever the size of the source. Every paged listing, here
or in a caller that pages itself, follows its tokens through one :class:`PageGuard`, so a server
that hands out the same page token again is caught in one place.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import requests

from . import parsing
from .capabilities import (
    GITLAB_MAX_PAGE,
    MLFLOW_MAX_EXPERIMENTS_PAGE,
    MLFLOW_MAX_MODELS_PAGE,
    MLFLOW_MAX_RUNS_PAGE,
    MLFLOW_MAX_VERSIONS_PAGE,
    probe,
)
from .errors import EndpointNotSupported, MalformedResponse, NotSupported
from .transport import Transport
from .types import (
    Capabilities,
    Experiment,
    ModelVersion,
    Page,
    RegisteredModel,
    Run,
    SourceKind,
    ViewType,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 1000

# Offset page tokens (MLflow's) only stay correct when the order is total and new rows sort last.
MLFLOW_RUN_ORDER = ("attributes.start_time ASC", "attributes.run_id ASC")
MLFLOW_EXPERIMENT_ORDER = ("experiment_id ASC",)
MLFLOW_MODEL_ORDER = ("name ASC",)
MLFLOW_VERSION_ORDER = ("version_number ASC",)
# GitLab paginates with keyset cursors, so any order is stable; this is its own default.
GITLAB_RUN_ORDER = "created_at DESC"
_GITLAB_ORDER_RE = re.compile(r"^(created_at|name|metrics\.\S.*?)(\s+(ASC|DESC))?$", re.IGNORECASE)


class PageGuard:
    """Follows the page tokens of one paged listing and stops one that would loop forever.

    A server whose paging is broken hands out a token it handed out before; paging on would
    read the same pages again and again. :meth:`next_token` raises MalformedResponse instead.
    """

    def __init__(self, transport: Transport, endpoint: str, start_token: str | None = None):
        self._transport = transport
        self.endpoint = endpoint
        self._token = start_token
        self._seen: set[str] = set()
        self._pages = 0

    def next_token(self, page: Page[Any]) -> str | None:
        """The token of the page after ``page`` (fetched by the last token); None at the end."""
        self._pages += 1
        token = page.next_page_token
        if token is not None and (token == self._token or token in self._seen):
            raise self._transport.error(
                MalformedResponse,
                self.endpoint,
                f"page {self._pages} repeats an earlier next_page_token; stopped instead of "
                "looping forever",
            )
        if token is not None:
            self._seen.add(token)
        self._token = token
        return token


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
        self.transport = Transport(
            base_url,
            kind,
            token=token,
            basic_auth=basic_auth,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_backoff=max_backoff,
            max_retry_after=max_retry_after,
            verify=verify,
            session=session,
        )
        self.kind: SourceKind = kind
        self.base_url = self.transport.base_url
        self.rest_base = self.transport.rest_base
        self._gitlab = kind == "gitlab"
        # Learned from a 404 or the probe; avoids asking again on every model.
        self._version_search_missing = self._gitlab

    def __repr__(self) -> str:
        return (
            f"TrackingClient({self.base_url!r}, kind={self.kind!r}, "
            f"auth={self.transport.auth_kind!r})"
        )

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- paging

    def page_guard(self, endpoint: str, start_token: str | None = None) -> PageGuard:
        """The guard for one listing of ``endpoint`` that starts at ``start_token``."""
        return PageGuard(self.transport, endpoint, start_token)

    def paginate(self, endpoint: str, fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
        """Every item of every page ``fetch`` returns, from the first page on."""
        guard = self.page_guard(endpoint)
        token: str | None = None
        while True:
            page = fetch(token)
            token = guard.next_token(page)
            yield from page.items
            if token is None:
                return

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
        if self._gitlab:
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
        payload = self.transport.call("POST", endpoint, body=body)
        with self.transport.malformed(endpoint):
            return parsing.experiments_page(payload)

    def iter_experiments(
        self, *, view_type: ViewType = "ALL", page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[Experiment]:
        return self.paginate(
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
        if self._gitlab:
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
                "order_by": _gitlab_run_order(order_by),
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
        payload = self.transport.call("POST", endpoint, body=body)
        with self.transport.malformed(endpoint):
            return parsing.runs_page(payload, gitlab=self._gitlab)

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
        groups = [[i] for i in ids] if self._gitlab else ([ids] if ids else [])
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

            yield from self.paginate("runs/search", fetch)

    def set_run_tag(self, run_id: str, key: str, value: str) -> None:
        self.transport.call(
            "POST",
            "runs/set-tag",
            body={"run_id": run_id, "key": key, "value": value},
            parse=False,
        )

    # ----------------------------------------------------------------- registry writes

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` of model ``name`` at ``version`` (moving it if it pointed elsewhere).

        Vanilla MLflow only: GitLab's endpoint has no alias writes, so the call is refused
        before anything is sent.
        """
        endpoint = "registered-models/alias"
        self._refuse_on_gitlab(endpoint, "set model aliases")
        self.transport.call(
            "POST",
            endpoint,
            body={"name": name, "alias": alias, "version": str(version)},
            parse=False,
        )

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        """Set the tag ``key`` of version ``version`` of model ``name``. Vanilla MLflow only."""
        endpoint = "model-versions/set-tag"
        self._refuse_on_gitlab(endpoint, "tag model versions")
        self.transport.call(
            "POST",
            endpoint,
            body={"name": name, "version": str(version), "key": key, "value": value},
            parse=False,
        )

    def _refuse_on_gitlab(self, endpoint: str, what: str) -> None:
        if self._gitlab:
            raise NotSupported(
                f"GitLab's MLflow endpoint cannot {what} (it has no {endpoint}); "
                "promote on GitLab through an environment hook",
                endpoint=endpoint,
            )

    # ----------------------------------------------------------------- registry

    def search_registered_models(
        self, *, max_results: int = DEFAULT_PAGE_SIZE, page_token: str | None = None
    ) -> Page[RegisteredModel]:
        endpoint = "registered-models/search"
        params: dict[str, Any]
        if self._gitlab:
            params = {"max_results": min(max_results, GITLAB_MAX_PAGE)}
        else:
            params = {
                "max_results": min(max_results, MLFLOW_MAX_MODELS_PAGE),
                "order_by": list(MLFLOW_MODEL_ORDER),
            }
        if page_token:
            params["page_token"] = page_token
        payload = self.transport.call("GET", endpoint, params=params)
        with self.transport.malformed(endpoint):
            return parsing.registered_models_page(payload, gitlab=self._gitlab)

    def get_registered_model(self, name: str) -> RegisteredModel:
        endpoint = "registered-models/get"
        payload = self.transport.call("GET", endpoint, params={"name": name})
        with self.transport.malformed(endpoint):
            return parsing.registered_model(payload, gitlab=self._gitlab)

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
                payload = self.transport.call("GET", endpoint, params=params)
            except EndpointNotSupported:
                logger.info(
                    "%s has no %s; reading versions from the model", self.base_url, endpoint
                )
                self._version_search_missing = True
            else:
                if model_aliases is None:
                    model_aliases = self.get_registered_model(name).aliases
                with self.transport.malformed(endpoint):
                    return parsing.model_versions_page(
                        payload, gitlab=self._gitlab, model_aliases=model_aliases
                    )
        if page_token:
            raise ValueError("versions read from registered-models/get come in one page")
        endpoint = "registered-models/get"
        payload = self.transport.call("GET", endpoint, params={"name": name})
        with self.transport.malformed(endpoint):
            return parsing.versions_of_model(payload, gitlab=self._gitlab)

    def iter_model_versions(
        self,
        name: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        model_aliases: Mapping[str, str] | None = None,
    ) -> Iterator[ModelVersion]:
        if model_aliases is None and not self._version_search_missing:
            model_aliases = self.get_registered_model(name).aliases
        return self.paginate(
            "model-versions/search",
            lambda token: self.search_model_versions(
                name, max_results=page_size, page_token=token, model_aliases=model_aliases
            ),
        )

    # ----------------------------------------------------------------- probing

    def probe(self) -> Capabilities:
        """What this source supports, found by cheap calls that change nothing.

        Raises what the first call raises when the source is unusable (unreachable, bad
        credentials, not an MLflow endpoint).
        """
        capabilities = probe(self, self.transport)
        self._version_search_missing = not capabilities.model_version_search
        return capabilities


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


def _name_filter(name: str) -> str | None:
    """``name='…'`` in MLflow's filter syntax, or None when no quoting can express the name."""
    if "'" not in name:
        return f"name='{name}'"
    if '"' not in name:
        return f'name="{name}"'
    return None
