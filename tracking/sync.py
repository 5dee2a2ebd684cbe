"""Sync: copy what a tracking server holds into the mirror.

Strategy
========

Pages in, bulk upserts out. Every page is written in one transaction together
with the sync's checkpoint and progress, so a failure leaves whole pages only
and the next sync of the source resumes from the checkpoint. Each row carries
a content hash: rows whose content did not change are not rewritten.

Experiments, registered models and model versions are few: every sync reads
them all, and marks ``gone_at`` on rows the server no longer returns.

Runs can be many, and MLflow runs carry no "last updated" time, so:

* a **full** sync (the first one, ``--full``, or once a day) pages through every
  run (deleted ones included), and marks runs the server no longer has as gone;
* an **incremental** sync's cost follows what changed upstream, not when runs
  ended. Let *since* be the moment the last successful sync began (the first
  attempt's start, if it was resumed), less ``SINCE_MARGIN`` for clock skew
  between govdash, the server and the clients that write runs. It asks for
  1. new runs: started since *since* (or since the newest run mirrored, if
     earlier), less the margin;
  2. runs that ended since *since* (and started before 1.'s bound: disjoint
     from 1.). A burst of runs that ended an hour ago is read once, by the
     first sync after it, not by every sync for hours;
  3. runs the mirror still holds as running or scheduled (by id, leaving out
     those 1. and 2. already read);
  4. runs deleted upstream (``DELETED_ONLY``: usually few);
  5. one **reconcile slice**: the next 1/24th (at least 500) of the runs that
     started before 1.'s bound, in start-time order, from a cursor kept on the
     source. So every run is re-read within 24 incremental syncs (runs after
     the bound are read by 1. on every sync): a tag changed on an old finished
     run, or a run removed from the server, is picked up even without a full sync.

  No run is read twice in one sync: the filters of 1., 2. and 5. do not
  overlap, and a run that one query returns after another already read it
  (a deleted run that also ended recently, a running run inside the slice) is
  skipped (``counts["duplicates"]``), though still marked as seen by the
  reconcile slice. ``counts["runs"]`` is the number of distinct runs read and
  ``counts["run_pages"]`` the number of runs/search requests.

GitLab ignores run filters, so on GitLab every sync pages through every run
(writes still happen only for changed rows).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.actors import SystemActor
from audit.chain import canonical_json
from audit.services import record
from tracking import mlflow as remote
from tracking.audit_actions import TrackingAction
from tracking.models import (
    GOVDASH_TAG_PREFIX,
    AliasChange,
    Experiment,
    ModelVersion,
    RegisteredModel,
    Run,
    Source,
    SyncRun,
)
from tracking.signals import alias_changed, runs_change

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Runs per page. With prefetch two pages are alive at once; 250 keeps that
# small, and the same for a small server (4 pages for 1,000 runs) as for a large one.
PAGE_SIZE = 250
EXPERIMENT_CHUNK = 100  # experiment ids per runs/search on vanilla MLflow
ID_BATCH = 100  # run ids per "attributes.run_id IN (...)" filter
# Runs whose start or end time lies this much before the last successful sync began
# are read again: room for clock skew between govdash, the server and its clients.
SINCE_MARGIN = dt.timedelta(minutes=5)
NEW_RUN_OVERLAP = SINCE_MARGIN
RECONCILE_SLICES = 24
RECONCILE_MIN_SLICE = 500
FULL_SYNC_EVERY = dt.timedelta(days=1)
ACTIVE_STATUSES = ("RUNNING", "SCHEDULED")

ProgressCallback = Callable[[SyncRun], None]


# --------------------------------------------------------------------------- helpers


def _dt(ms: int | None) -> dt.datetime | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


def _plain(item: Any) -> dict[str, Any]:
    """A client dataclass as JSON-ready values. Shallow on purpose:
    ``dataclasses.asdict`` deep-copies every string and was a third of a sync."""
    plain = {field.name: getattr(item, field.name) for field in dataclasses.fields(item)}
    metrics = plain.get("metrics")
    if isinstance(item, remote.Run) and metrics:
        plain["metrics"] = {k: [m.value, m.timestamp, m.step] for k, m in metrics.items()}
    return plain


def _hash(plain: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(plain).encode()).hexdigest()


def _digest(item: Any) -> str:
    return _hash(_plain(item))


def _run_digests(run: remote.Run) -> tuple[str, str]:
    """The run's content hash, and its hash without the tags govdash writes
    back itself (what compliance rules look at)."""
    plain = _plain(run)
    content = _hash(plain)
    if not any(key.startswith(GOVDASH_TAG_PREFIX) for key in run.tags):
        return content, content
    plain["tags"] = {k: v for k, v in run.tags.items() if not k.startswith(GOVDASH_TAG_PREFIX)}
    return content, _hash(plain)


def _pages(
    client: remote.TrackingClient,
    endpoint: str,
    fetch: Callable[[str | None], remote.Page[T]],
    start_token: str | None = None,
    *,
    prefetch: bool = False,
    limit: int | None = None,
) -> Iterator[tuple[remote.Page[T], str | None]]:
    """Pages with the token that fetched each; a token that repeats is an error
    (the client's page guard says so).

    With ``prefetch``, the next page is fetched in a helper thread while the
    caller writes the current one, so the server's time and ours overlap. At
    most two pages are in memory; the client is used by one thread at a time.
    No page is prefetched past ``limit`` items: the caller stops there.
    """
    token = start_token
    guard = client.page_guard(endpoint, start_token)
    items = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="govdash-prefetch") as pool:
        pending = pool.submit(fetch, token) if prefetch else None
        while True:
            page = pending.result() if pending is not None else fetch(token)
            next_token = guard.next_token(page)
            items += len(page.items)
            wanted = limit is None or items < limit
            pending = pool.submit(fetch, next_token) if prefetch and next_token and wanted else None
            yield page, token
            # Let the page go before the next: memory stays at one or two pages.
            del page
            if not next_token:
                return
            token = next_token


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# --------------------------------------------------------------------------- the sync


class _Sync:
    """One execution of a SyncRun. Not reusable."""

    def __init__(
        self, sync_run: SyncRun, client: remote.TrackingClient, progress: ProgressCallback | None
    ):
        self.sync_run = sync_run
        self.source = sync_run.source
        self.client = client
        self.progress = progress
        self.now = timezone.now()
        self.counts: dict[str, int] = dict.fromkeys(
            (
                "experiments",
                "runs",
                "models",
                "versions",
                "created",
                "updated",
                "unchanged",
                "gone",
                "alias_changes",
                "alerts",
                "duplicates",
                "run_pages",
            ),
            0,
        )
        self.capabilities: remote.Capabilities | None = None
        self.experiment_pks: dict[str, int] = {}
        self.checkpoint: dict[str, Any] = dict(sync_run.checkpoint or {})
        # Ids of the runs this sync has read, so that no run is read twice (an
        # incremental sync only: a full sync's one query reads each run once).
        self.read_ids: set[str] | None = None

    # -- bookkeeping -------------------------------------------------------------

    def _save_progress(self, *, phase: str | None = None, done: int = 0) -> None:
        """Called inside each page's transaction: progress and checkpoint commit with it."""
        if phase is not None:
            self.sync_run.phase = phase
        self.sync_run.progress_done += done
        self.sync_run.heartbeat_at = timezone.now()
        self.sync_run.checkpoint = self.checkpoint
        self.sync_run.counts = self.counts
        SyncRun.objects.filter(pk=self.sync_run.pk).update(
            phase=self.sync_run.phase,
            progress_done=self.sync_run.progress_done,
            heartbeat_at=self.sync_run.heartbeat_at,
            checkpoint=self.checkpoint,
            counts=self.counts,
        )
        if self.progress:
            self.progress(self.sync_run)

    # -- experiments ---------------------------------------------------------------

    def sync_experiments(self) -> None:
        seen: list[str] = []
        for page, _token in _pages(
            self.client,
            "experiments/search",
            lambda token: self.client.search_experiments(max_results=PAGE_SIZE, page_token=token),
        ):
            with transaction.atomic():
                self._upsert_experiments(page.items)
                seen.extend(item.experiment_id for item in page.items)
                self._save_progress(phase="experiments", done=len(page.items))
        with transaction.atomic():
            gone = (
                Experiment.objects.filter(source=self.source, gone_at__isnull=True)
                .exclude(experiment_id__in=seen)
                .update(gone_at=self.now)
            )
            self.counts["gone"] += gone
        self.experiment_pks = dict(
            Experiment.objects.filter(source=self.source).values_list("experiment_id", "pk")
        )

    def _upsert_experiments(self, items: Iterable[remote.Experiment]) -> None:
        items = list(items)
        existing = dict(
            Experiment.objects.filter(
                source=self.source, experiment_id__in=[i.experiment_id for i in items]
            ).values_list("experiment_id", "content_hash")
        )
        rows = []
        for item in items:
            digest = _digest(item)
            self.counts["experiments"] += 1
            if existing.get(item.experiment_id) == digest:
                self.counts["unchanged"] += 1
                continue
            self.counts["updated" if item.experiment_id in existing else "created"] += 1
            rows.append(
                Experiment(
                    source=self.source,
                    experiment_id=item.experiment_id,
                    name=item.name,
                    artifact_location=item.artifact_location or "",
                    lifecycle_stage=item.lifecycle_stage or "active",
                    creation_time=_dt(item.creation_time),
                    last_update_time=_dt(item.last_update_time),
                    tags=item.tags,
                    content_hash=digest,
                    synced_at=self.now,
                    gone_at=None,
                )
            )
        Experiment.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["source", "experiment_id"],
            update_fields=[
                "name",
                "artifact_location",
                "lifecycle_stage",
                "creation_time",
                "last_update_time",
                "tags",
                "content_hash",
                "synced_at",
                "gone_at",
            ],
        )

    # -- runs ------------------------------------------------------------------------

    def _experiment_pk(self, experiment_id: str) -> int:
        pk = self.experiment_pks.get(experiment_id)
        if pk is None:
            # Created upstream after the experiments were read: read them again.
            self.sync_experiments()
            pk = self.experiment_pks.get(experiment_id)
        if pk is None:
            raise remote.MalformedResponse(
                f"runs/search: a run belongs to experiment {experiment_id}, "
                "which experiments/search does not list",
                endpoint="runs/search",
            )
        return pk

    def _upsert_runs(
        self, items: Sequence[remote.Run], *, mark_seen: bool, remember: bool = True
    ) -> list[remote.Run]:
        """Write new and changed runs; returns the runs written.

        A run this sync already read is skipped (only marked as seen, if asked);
        with ``remember``, the runs read are kept in ``read_ids`` for later queries."""
        already: list[str] = []
        if self.read_ids is not None:
            fresh = []
            for item in items:
                if item.run_id in self.read_ids:
                    already.append(item.run_id)
                else:
                    fresh.append(item)
                    if remember:
                        self.read_ids.add(item.run_id)
            self.counts["duplicates"] += len(already)
            items = fresh
        existing = dict(
            Run.objects.filter(
                source=self.source, run_id__in=[i.run_id for i in items]
            ).values_list("run_id", "content_hash")
        )
        rows, unchanged, written = [], [], []
        for item in items:
            digest, facts_digest = _run_digests(item)
            self.counts["runs"] += 1
            if existing.get(item.run_id) == digest:
                self.counts["unchanged"] += 1
                unchanged.append(item.run_id)
                continue
            self.counts["updated" if item.run_id in existing else "created"] += 1
            written.append(item)
            rows.append(
                Run(
                    source=self.source,
                    experiment_id=self._experiment_pk(item.experiment_id),
                    run_id=item.run_id,
                    run_name=item.run_name or "",
                    status=item.status or "",
                    start_time=_dt(item.start_time),
                    end_time=_dt(item.end_time),
                    user_id=item.user_id or "",
                    artifact_uri=item.artifact_uri or "",
                    lifecycle_stage=item.lifecycle_stage or "active",
                    params=item.params,
                    tags=item.tags,
                    metrics={
                        key: {"value": m.value, "step": m.step, "timestamp": m.timestamp}
                        for key, m in item.metrics.items()
                    },
                    classification=(item.tags.get("classification") or "")[:100],
                    content_hash=digest,
                    facts_hash=facts_digest,
                    synced_at=self.now,
                    changed_at=self.now,
                    seen_in_sync=self.sync_run.mark,
                    gone_at=None,
                )
            )
        # Runs written, and runs marked seen that were gone (shown again):
        # reports keeps its rollups with them (tracking.signals.runs_changing).
        seen_again = (unchanged + already) if mark_seen else []
        touched = Run.objects.filter(source=self.source, run_id__in=[r.run_id for r in rows])
        if seen_again:
            touched = touched | Run.objects.filter(
                source=self.source, run_id__in=seen_again, gone_at__isnull=False
            )
        with runs_change(touched):
            Run.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["source", "run_id"],
                update_fields=[
                    "experiment",
                    "run_name",
                    "status",
                    "start_time",
                    "end_time",
                    "user_id",
                    "artifact_uri",
                    "lifecycle_stage",
                    "params",
                    "tags",
                    "metrics",
                    "classification",
                    "content_hash",
                    "facts_hash",
                    "synced_at",
                    "changed_at",
                    "seen_in_sync",
                    "gone_at",
                ],
            )
            if mark_seen and (unchanged or already):
                Run.objects.filter(source=self.source, run_id__in=unchanged + already).update(
                    seen_in_sync=self.sync_run.mark, gone_at=None
                )
        return written

    def _run_query(
        self,
        name: str,
        experiment_groups: Sequence[list[str]],
        *,
        filter_string: str = "",
        view: remote.ViewType = "ALL",
        mark_seen: bool = False,
        limit: int | None = None,
        remember: bool = True,
    ) -> tuple[int, remote.Run | None]:
        """Page through one query, resuming from the checkpoint if it names it.

        Returns how many runs it read and the last run read.
        """
        resume = self.checkpoint.get("query") == name
        start_group = int(self.checkpoint.get("group", 0)) if resume else 0
        start_token = self.checkpoint.get("page_token") if resume else None
        read, last = 0, None
        page_size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit)
        for group_index in range(start_group, len(experiment_groups)):
            group = experiment_groups[group_index]
            token_for_group = start_token if group_index == start_group else None
            for page, _token in _pages(
                self.client,
                "runs/search",
                lambda token, group=group: self.client.search_runs(  # type: ignore[misc]
                    group,
                    filter_string=filter_string,
                    run_view_type=view,
                    max_results=page_size,
                    page_token=token,
                ),
                token_for_group,
                prefetch=True,
                limit=None if limit is None else limit - read,
            ):
                self.counts["run_pages"] += 1
                with transaction.atomic():
                    self._upsert_runs(page.items, mark_seen=mark_seen, remember=remember)
                    read += len(page.items)
                    if page.items:
                        last = page.items[-1]
                    self.checkpoint = {
                        "mark": self.sync_run.mark,
                        "query": name,
                        "group": group_index if page.next_page_token else group_index + 1,
                        "page_token": page.next_page_token,
                    }
                    self._save_progress(phase=f"runs: {name}", done=len(page.items))
                del page  # one page in memory at a time, however many runs
                if limit is not None and read >= limit:
                    return read, last
        return read, last

    def _experiment_groups(self) -> list[list[str]]:
        ids = sorted(self.experiment_pks, key=lambda i: (len(i), i))
        multi = self.capabilities.multi_experiment_run_search if self.capabilities else True
        return list(_chunks(ids, EXPERIMENT_CHUNK if multi else 1))

    def sync_runs_full(self) -> None:
        groups = self._experiment_groups()
        self._run_query("all", groups, mark_seen=True)
        with transaction.atomic():
            unseen = Run.objects.filter(source=self.source, gone_at__isnull=True).exclude(
                seen_in_sync=self.sync_run.mark
            )
            with runs_change(unseen):
                gone = unseen.update(gone_at=self.now)
            self.counts["gone"] += gone
            Source.objects.filter(pk=self.source.pk).update(
                last_full_sync_at=self.now, reconcile_cursor={}
            )

    def _last_success_began(self) -> dt.datetime | None:
        """When the last successful sync of this source began: if it resumed an
        interrupted sync, when the first of that chain began (the queries it
        skipped ran then)."""
        last = (
            SyncRun.objects.filter(source=self.source, status=SyncRun.Status.SUCCEEDED)
            .exclude(pk=self.sync_run.pk)
            .order_by("-created_at", "-pk")
            .first()
        )
        began = None
        for _ in range(1000):  # a resume chain is short; never loop on bad data
            if last is None:
                break
            began = last.started_at or last.created_at
            last = last.resumed_from
        return began

    def sync_runs_incremental(self) -> None:
        groups = self._experiment_groups()
        self.read_ids = set()
        margin = int(SINCE_MARGIN.total_seconds() * 1000)
        began = self._last_success_began()
        # Nothing known to have been read before: every run that ended.
        ended_since = _ms(began) - margin if began is not None else 0
        # New runs: started since that sync began, or since the newest run mirrored
        # if that is earlier (a run's start time is the client's clock, not ours).
        newest = self.source.runs_watermark or 0
        new_since = max(0, min(newest, _ms(began)) if began is not None else newest) - margin
        new_since = max(new_since, 0)
        self._run_query(
            "new", groups, filter_string=f"attributes.start_time >= {new_since}", mark_seen=True
        )
        self._run_query(
            "ended",
            groups,
            filter_string=(
                f"attributes.end_time >= {ended_since} and attributes.start_time < {new_since}"
            ),
        )
        active_ids = [
            run_id
            for run_id in Run.objects.filter(
                source=self.source, status__in=ACTIVE_STATUSES, gone_at__isnull=True
            )
            .order_by("run_id")
            .values_list("run_id", flat=True)
            if run_id not in self.read_ids
        ]
        for index, batch in enumerate(_chunks(active_ids, ID_BATCH)):
            quoted = ",".join(f"'{run_id}'" for run_id in batch if run_id.isalnum())
            if quoted:
                self._run_query(
                    f"active-{index}", groups, filter_string=f"attributes.run_id IN ({quoted})"
                )
        self._run_query("deleted", groups, view="DELETED_ONLY")
        self._reconcile_slice(groups, before=new_since)

    def _reconcile_slice(self, groups: list[list[str]], *, before: int) -> None:
        """Re-read the next slice of the runs that started before ``before`` (those
        after it are read by the new-runs query on every sync)."""
        total = Run.objects.filter(source=self.source, start_time__lt=_dt(before)).count()
        # One more than a 1/RECONCILE_SLICES share: the next slice starts again at
        # the last start time read (runs may share it), so each slice moves on by
        # at least a full share and every run is re-read within RECONCILE_SLICES syncs.
        size = max(RECONCILE_MIN_SLICE, -(-total // RECONCILE_SLICES) + 1)
        cursor = int((self.source.reconcile_cursor or {}).get("start_time", 0))
        read, last = self._run_query(
            "reconcile",
            groups,
            filter_string=(
                f"attributes.start_time >= {cursor} and attributes.start_time < {before}"
            ),
            mark_seen=True,
            limit=size,
            remember=False,  # the last query: nothing after it could read a run again
        )
        wrapped = read < size or last is None
        end = None if wrapped else (last.start_time if last else None)
        with transaction.atomic():
            window = Run.objects.filter(
                source=self.source,
                gone_at__isnull=True,
                start_time__gte=_dt(cursor),
                start_time__lt=_dt(before),
                experiment__experiment_id__in=[i for group in groups for i in group],
            ).exclude(seen_in_sync=self.sync_run.mark)
            if end is not None:
                # Runs sharing the last start time may continue on the next page.
                window = window.filter(start_time__lt=_dt(end))
            with runs_change(window):
                self.counts["gone"] += window.update(gone_at=self.now)
            next_cursor = {} if wrapped else {"start_time": end}
            Source.objects.filter(pk=self.source.pk).update(reconcile_cursor=next_cursor)

    # -- models, versions, aliases ---------------------------------------------------------

    def sync_models(self) -> None:
        seen_models: list[str] = []
        for page, _token in _pages(
            self.client,
            "registered-models/search",
            lambda token: self.client.search_registered_models(
                max_results=min(PAGE_SIZE, 1000), page_token=token
            ),
        ):
            for item in page.items:
                with transaction.atomic():
                    self._upsert_model(item)
                    seen_models.append(item.name)
                    self._save_progress(phase="models", done=1)
        with transaction.atomic():
            self.counts["gone"] += (
                RegisteredModel.objects.filter(source=self.source, gone_at__isnull=True)
                .exclude(name__in=seen_models)
                .update(gone_at=self.now)
            )

    def _upsert_model(self, item: remote.RegisteredModel) -> None:
        self.counts["models"] += 1
        digest = _digest(item)
        model = RegisteredModel.objects.filter(source=self.source, name=item.name).first()
        is_new = model is None
        old_aliases: dict[str, str] = dict(model.aliases) if model else {}
        fields = {
            "description": item.description or "",
            "creation_time": _dt(item.creation_timestamp),
            "last_updated_time": _dt(item.last_updated_timestamp),
            "tags": item.tags,
            "aliases": dict(item.aliases),
            "content_hash": digest,
            "synced_at": self.now,
            "gone_at": None,
        }
        if model is None:
            model = RegisteredModel.objects.create(source=self.source, name=item.name, **fields)
            self.counts["created"] += 1
        elif model.content_hash != digest or model.gone_at is not None:
            RegisteredModel.objects.filter(pk=model.pk).update(**fields)
            self.counts["updated"] += 1
        else:
            self.counts["unchanged"] += 1
        self._sync_versions(model)
        self._record_alias_changes(model, old_aliases, dict(item.aliases), first_seen=is_new)

    def _sync_versions(self, model: RegisteredModel) -> None:
        items = list(self.client.iter_model_versions(model.name))
        existing = dict(model.versions.values_list("version", "content_hash"))
        run_pks = dict(
            Run.objects.filter(
                source=self.source, run_id__in=[i.run_id for i in items if i.run_id]
            ).values_list("run_id", "pk")
        )
        rows = []
        for item in items:
            self.counts["versions"] += 1
            digest = _digest(item)
            if existing.get(item.version) == digest:
                self.counts["unchanged"] += 1
                continue
            self.counts["updated" if item.version in existing else "created"] += 1
            rows.append(
                ModelVersion(
                    model=model,
                    version=item.version,
                    source_uri=item.source or "",
                    mlflow_run_id=item.run_id or "",
                    run_id=run_pks.get(item.run_id or ""),
                    status=item.status or "",
                    current_stage=item.current_stage or "",
                    description=item.description or "",
                    creation_time=_dt(item.creation_timestamp),
                    last_updated_time=_dt(item.last_updated_timestamp),
                    tags=item.tags,
                    aliases=list(item.aliases),
                    semver=item.semver or "",
                    content_hash=digest,
                    synced_at=self.now,
                    gone_at=None,
                )
            )
        ModelVersion.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["model", "version"],
            update_fields=[
                "source_uri",
                "mlflow_run_id",
                "run",
                "status",
                "current_stage",
                "description",
                "creation_time",
                "last_updated_time",
                "tags",
                "aliases",
                "semver",
                "content_hash",
                "synced_at",
                "gone_at",
            ],
        )
        self.counts["gone"] += (
            model.versions.filter(gone_at__isnull=True)
            .exclude(version__in=[i.version for i in items])
            .update(gone_at=self.now)
        )

    def _record_alias_changes(
        self, model: RegisteredModel, old: dict[str, str], new: dict[str, str], *, first_seen: bool
    ) -> None:
        """Record every observed alias move as a fact. Whether a move was
        approved is not the mirror's call: ``alias_changed`` asks the layer
        that owns approvals (docs/architecture.md, "Events")."""
        watched = set(self.source.watched)
        for alias in sorted(set(old) | set(new)):
            before, after = old.get(alias, ""), new.get(alias, "")
            if before == after:
                continue
            change = AliasChange.objects.create(
                model=model,
                alias=alias,
                from_version=before,
                to_version=after,
                observed_at=self.now,
                sync_run=self.sync_run,
            )
            self.counts["alias_changes"] += 1
            record(
                action=TrackingAction.ALIAS_CHANGED,
                system_actor=SystemActor.SYNC,
                target=change,
                data={
                    "source": self.source.name,
                    "model": model.name,
                    "alias": alias,
                    "from": before,
                    "to": after,
                },
            )
            # Inside this page's transaction: the judgement commits with the fact.
            alias_changed.send(
                sender=AliasChange, change=change, first_seen=first_seen, watched=alias in watched
            )
            if change.unapproved:
                self.counts["alerts"] += 1

    # -- the whole ---------------------------------------------------------------------------

    def run(self) -> None:
        self.capabilities = self.client.probe()
        Source.objects.filter(pk=self.source.pk).update(
            capabilities=dataclasses.asdict(self.capabilities), capabilities_checked_at=self.now
        )
        self.sync_experiments()
        full = self.sync_run.full or not (self.capabilities.run_filter)
        if full:
            self.sync_runs_full()
        else:
            self.sync_runs_incremental()
        self.sync_models()
        watermark = Run.objects.filter(source=self.source).aggregate(latest=Max("start_time"))[
            "latest"
        ]
        if watermark is not None:
            Source.objects.filter(pk=self.source.pk).update(runs_watermark=_ms(watermark))
