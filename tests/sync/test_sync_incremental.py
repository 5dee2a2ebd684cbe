"""Incremental syncs against a real mlflow server: each run query on its own.

An incremental sync reads runs through five queries (see ``tracking/sync.py``): new
runs, runs that ended since the last successful sync began, runs the mirror holds as
active, deleted runs, and a reconcile slice. Each test changes a run upstream that only
one of them can see, so breaking that query fails that test. Three things would otherwise
hide a broken query:

* the reconcile slice, at least ``RECONCILE_MIN_SLICE`` (500) runs, would re-read this
  whole server every sync: here it is a quarter of the runs (``RECONCILE_SLICES`` = 4, no
  minimum), and each test checks that the slice of the sync under test read fewer runs
  than started before its run (slices read in start-time order, from the oldest);
* the new-runs query reads from the newest start time (or the last sync's start, if
  earlier) less ``NEW_RUN_OVERLAP``, and the world's runs all start within minutes of each
  other: ``lab`` starts a run now, so the older runs here are outside that window (each
  test checks it for its run);
* the ended query reads runs that ended since the last successful sync began, less
  ``SINCE_MARGIN``: runs that are not about it ended before that.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest
from mlflow import MlflowClient

from tracking import sync as sync_module
from tracking.mlflow import TrackingClient
from tracking.models import Run, Source, SyncRun
from tracking.services import source_create, sync_execute, sync_request

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def _ms(delta: dt.timedelta) -> int:
    return int(delta.total_seconds() * 1000)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Lab:
    """An experiment of our own on the session's server, for runs with chosen times."""

    client: MlflowClient
    experiment: str

    def run(self, *, started_ago: dt.timedelta, ended_ago: dt.timedelta | None = None) -> str:
        """A run started ``started_ago``; finished ``ended_ago`` if given, else running."""
        now = _now_ms()
        run_id = self.client.create_run(
            self.experiment, start_time=now - _ms(started_ago), run_name="incremental"
        ).info.run_id
        if ended_ago is not None:
            self.client.set_terminated(run_id, end_time=now - _ms(ended_ago))
        return run_id

    def start_time(self, run_id: str) -> int:
        return self.client.get_run(run_id).info.start_time


@pytest.fixture(scope="module")
def lab(world) -> Lab:  # type: ignore[no-untyped-def]
    experiment = world.client.create_experiment(f"sync-incremental-{uuid.uuid4().hex[:8]}")
    lab = Lab(client=world.client, experiment=experiment)
    # The newest start time on the server: keeps older runs out of the new-runs query.
    lab.run(started_ago=dt.timedelta(0), ended_ago=dt.timedelta(0))
    return lab


@pytest.fixture(autouse=True)
def small_reconcile_slices(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A quarter of the runs: production's 500 at least would re-read all of this server.
    monkeypatch.setattr(sync_module, "RECONCILE_SLICES", 4)
    monkeypatch.setattr(sync_module, "RECONCILE_MIN_SLICE", 1)


@pytest.fixture
def source(mlflow_server, lab) -> Source:  # type: ignore[no-untyped-def]
    return source_create(name="incremental", url=mlflow_server.url)


class RecordingClient(TrackingClient):
    """The real client, noting the id of every run the server returns."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.run_ids: list[str] = []

    def probe(self):  # type: ignore[no-untyped-def]
        capabilities = super().probe()
        self.run_ids.clear()  # the probe's own searches read no run into the mirror
        return capabilities

    def search_runs(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        page = super().search_runs(*args, **kwargs)
        self.run_ids.extend(run.run_id for run in page.items)
        return page


def _sync(source: Source, *, full: bool, client: TrackingClient | None = None) -> Counter[str]:
    """Sync; returns how many runs each runs query read (from the progress reports)."""
    read: Counter[str] = Counter()
    done = {"before": 0}

    def progress(sync_run: SyncRun) -> None:
        if sync_run.phase.startswith("runs: "):
            read[sync_run.phase.removeprefix("runs: ")] += sync_run.progress_done - done["before"]
        done["before"] = sync_run.progress_done

    sync_run = sync_execute(sync_run=sync_request(source=source), progress=progress, client=client)
    assert sync_run.status == "succeeded", sync_run.error
    assert sync_run.full == full
    source.refresh_from_db()
    read.update({f"counts.{key}": value for key, value in sync_run.counts.items()})
    return read


def _mirrored(source: Source, run_id: str) -> Run | None:
    return Run.objects.filter(source=source, run_id=run_id).first()


def _outside_new_runs_query(source: Source, start_time: int) -> bool:
    """Whether the next sync's new-runs query leaves out a run that started then."""
    return start_time < (source.runs_watermark or 0) - _ms(sync_module.NEW_RUN_OVERLAP)


def _outside_first_reconcile_slice(source: Source, read: Counter[str], start_time: int) -> bool:
    """Whether the reconcile slice of the first incremental sync after a full one, which
    reads runs in start-time order from the oldest, stopped before a run that started then."""
    older = Run.objects.filter(
        source=source, start_time__lt=dt.datetime.fromtimestamp(start_time / 1000, tz=dt.UTC)
    ).count()
    return read["reconcile"] <= older


def test_a_run_started_since_the_last_sync_is_picked_up(source, lab):
    _sync(source, full=True)
    # Still running: no end time for the recently-ended query to see.
    run_id = lab.run(started_ago=dt.timedelta(0))
    read = _sync(source, full=False)
    assert _outside_first_reconcile_slice(source, read, lab.start_time(run_id))
    run = _mirrored(source, run_id)
    assert run is not None
    assert run.status == "RUNNING"


def test_a_run_that_ended_since_the_last_sync_began_is_picked_up(source, lab):
    _sync(source, full=True)
    # Started long ago, never mirrored (it did not exist then), ended since: only the
    # ended query can see it (not running in the mirror, not new, past the first slice).
    run_id = lab.run(started_ago=2 * HOUR, ended_ago=dt.timedelta(0))
    lab.client.set_tag(run_id, "reviewed", "yes")
    assert _outside_new_runs_query(source, lab.start_time(run_id))
    read = _sync(source, full=False)
    assert _outside_first_reconcile_slice(source, read, lab.start_time(run_id))
    run = _mirrored(source, run_id)
    assert run is not None
    assert run.status == "FINISHED"
    assert run.tags.get("reviewed") == "yes"


def test_a_tag_and_a_metric_added_just_after_a_run_ended_are_picked_up(source, lab):
    # Ended within SINCE_MARGIN before the full sync began: the next sync reads it again.
    run_id = lab.run(started_ago=2 * HOUR, ended_ago=sync_module.SINCE_MARGIN / 5)
    _sync(source, full=True)
    assert _outside_new_runs_query(source, lab.start_time(run_id))
    lab.client.set_tag(run_id, "reviewed", "yes")
    lab.client.log_metric(run_id, "auc", 0.91)
    read = _sync(source, full=False)
    assert _outside_first_reconcile_slice(source, read, lab.start_time(run_id))
    run = _mirrored(source, run_id)
    assert run.tags.get("reviewed") == "yes"
    assert run.metrics["auc"]["value"] == 0.91


def _burst(lab: Lab, size: int) -> list[str]:
    """``size`` runs that started two hours ago and ended 10 to 50 minutes ago: a sweep
    that finished within the last hour, well before the next sync begins."""
    margin = sync_module.SINCE_MARGIN
    assert margin < dt.timedelta(minutes=10)
    return [
        lab.run(started_ago=2 * HOUR, ended_ago=dt.timedelta(minutes=10 + number))
        for number in range(size)
    ]


def test_an_unchanged_resync_after_a_burst_of_recently_ended_runs_reads_none_of_them(
    source, lab, mlflow_server
):
    burst = _burst(lab, 30)
    _sync(source, full=True)
    assert all(_outside_new_runs_query(source, lab.start_time(r)) for r in burst)
    client = RecordingClient(mlflow_server.url)
    read = _sync(source, full=False, client=client)
    assert _outside_first_reconcile_slice(source, read, min(lab.start_time(r) for r in burst))
    # The burst ended before the full sync began: no query of this sync asks for it.
    assert not set(burst) & set(client.run_ids)
    # Each run the server returned is read (hashed, compared) once; a run returned
    # again by a later query (a deleted run inside the reconcile slice) is skipped.
    assert read["counts.runs"] == len(set(client.run_ids))
    assert read["counts.duplicates"] == len(client.run_ids) - len(set(client.run_ids))
    # Well under the mirror: the reconcile slice (a quarter here) and a few others.
    assert read["counts.runs"] < Run.objects.filter(source=source).count() / 2


def test_a_run_of_a_burst_edited_late_is_picked_up_by_the_reconcile_slices(source, lab):
    run_id = _burst(lab, 1)[0]
    _sync(source, full=True)
    lab.client.set_tag(run_id, "reviewed", "late")
    read = _sync(source, full=False)
    assert _outside_first_reconcile_slice(source, read, lab.start_time(run_id))
    assert "reviewed" not in _mirrored(source, run_id).tags  # no query but a slice sees it
    for _ in range(sync_module.RECONCILE_SLICES - 1):
        _sync(source, full=False)
        if "reviewed" in _mirrored(source, run_id).tags:
            break
    assert _mirrored(source, run_id).tags.get("reviewed") == "late"


def test_a_run_two_queries_return_is_read_once(source, lab, mlflow_server):
    # Ended since the full sync began and deleted: the ended and deleted queries both
    # return it.
    _sync(source, full=True)
    run_id = lab.run(started_ago=2 * HOUR, ended_ago=dt.timedelta(0))
    lab.client.delete_run(run_id)
    client = RecordingClient(mlflow_server.url)
    read = _sync(source, full=False, client=client)
    assert client.run_ids.count(run_id) == 2
    assert read["counts.duplicates"] >= 1
    assert read["counts.runs"] == len(set(client.run_ids))
    assert _mirrored(source, run_id).lifecycle_stage == "deleted"


def test_a_run_mirrored_as_running_that_finished_upstream_is_updated(source, lab):
    run_id = lab.run(started_ago=2 * DAY)
    _sync(source, full=True)
    assert _mirrored(source, run_id).status == "RUNNING"
    assert _outside_new_runs_query(source, lab.start_time(run_id))
    # It ended a day ago, before the full sync began: as after a pause in syncing.
    lab.client.set_terminated(run_id, end_time=_now_ms() - _ms(DAY))
    read = _sync(source, full=False)
    assert _outside_first_reconcile_slice(source, read, lab.start_time(run_id))
    run = _mirrored(source, run_id)
    assert run.status == "FINISHED"
    assert run.end_time is not None


def test_a_run_deleted_upstream_is_marked_deleted(source, lab):
    run_id = lab.run(started_ago=2 * DAY, ended_ago=DAY)
    _sync(source, full=True)
    assert _mirrored(source, run_id).lifecycle_stage == "active"
    assert _outside_new_runs_query(source, lab.start_time(run_id))
    lab.client.delete_run(run_id)
    read = _sync(source, full=False)
    assert _outside_first_reconcile_slice(source, read, lab.start_time(run_id))
    run = _mirrored(source, run_id)
    assert run.lifecycle_stage == "deleted"
    assert run.gone_at is None  # deleted, still on the server: not gone


def test_a_tag_changed_on_an_old_finished_run_is_picked_up_by_a_later_reconcile_slice(
    source, world, lab
):
    # The first run of the world's third experiment: mid-way through the server's runs
    # in start-time order, so past the first slice and well before the last.
    run_id = world.runs[24]
    _sync(source, full=True)
    assert _outside_new_runs_query(source, lab.start_time(run_id))
    world.client.set_tag(run_id, "reviewed", "yes")
    try:
        read = _sync(source, full=False)
        # The first slice stops short of the run, and nothing else reads an old finished run.
        assert _outside_first_reconcile_slice(source, read, lab.start_time(run_id))
        assert "reviewed" not in _mirrored(source, run_id).tags
        for _ in range(sync_module.RECONCILE_SLICES - 1):
            _sync(source, full=False)
            if "reviewed" in _mirrored(source, run_id).tags:
                break
        assert _mirrored(source, run_id).tags.get("reviewed") == "yes"
    finally:
        world.client.delete_tag(run_id, "reviewed")


def test_every_run_is_reread_within_reconcile_slices_incremental_syncs(source, lab):
    _sync(source, full=True)
    full_mark = SyncRun.objects.filter(source=source).latest("created_at").mark
    present = Run.objects.filter(source=source, gone_at__isnull=True)
    assert present.filter(seen_in_sync=full_mark).count() == present.count()
    for _ in range(sync_module.RECONCILE_SLICES):
        _sync(source, full=False)
    # Each run read by a reconcile slice carries that sync's mark instead of the full one's.
    assert not present.filter(seen_in_sync=full_mark).exists()
