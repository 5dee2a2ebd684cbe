from __future__ import annotations

import os
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from audit.actors import SystemActor
from kernel.commands import DATABASE_LOST, outages_in_one_line, reconnect_and_retry
from kernel.errors import one_line
from tracking.models import Source, SyncRun
from tracking.selectors import mirror_counts
from tracking.services import (
    SyncAlreadyRunning,
    source_create,
    sync_abandon,
    sync_execute,
    sync_request,
)


class _ProgressBar:
    """A one-line progress bar on a terminal; a line every few seconds otherwise."""

    def __init__(self, stream: Any, name: str) -> None:
        self.stream = stream
        self.name = name
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last = 0.0

    def __call__(self, sync_run: SyncRun) -> None:
        now = time.monotonic()
        if now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        total = sync_run.progress_total
        done = sync_run.progress_done
        if total:
            fraction = min(done / total, 0.99)
            bar = "#" * int(30 * fraction)
            text = f"{self.name} [{bar:<30}] {done}/~{total} {sync_run.phase}"
        else:
            text = f"{self.name} {done} items {sync_run.phase}"
        if self.tty:
            self.stream.write("\r" + text[:120].ljust(120))
            self.stream.flush()
        else:
            self.stream.write(text + "\n")

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()


class Command(BaseCommand):
    help = "Sync tracking sources into the mirror, in the foreground."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", help="sources to sync (default: all)")
        parser.add_argument("--full", action="store_true", help="read every run, not only changes")

    def _default_source(self) -> Source | None:
        uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
        if not uri or not uri.startswith(("http://", "https://")):
            return None
        existing = Source.objects.filter(name="default").first()
        if existing:
            return existing
        token_env = "MLFLOW_TRACKING_TOKEN" if os.environ.get("MLFLOW_TRACKING_TOKEN") else ""
        return source_create(name="default", url=uri, secret_env=token_env)

    def handle(self, *args: Any, **options: Any) -> None:
        with outages_in_one_line():
            self._handle(options)

    def _run(self, sync_run: SyncRun, name: str) -> SyncRun:
        """Run the sync; if the database connection is lost, mark it failed
        on a fresh connection (so it blocks no later sync), then one line."""
        bar = _ProgressBar(sys.stderr, name)
        try:
            return sync_execute(sync_run=sync_run, progress=bar)
        except DATABASE_LOST as exc:
            bar.close()
            reason = f"the database connection was lost: {one_line(exc)}"
            try:
                reconnect_and_retry(lambda: sync_abandon(sync_run, reason=reason))
            except DATABASE_LOST:
                reason += (
                    " (the sync could not be marked failed; the maintenance tick fails it "
                    "when its heartbeat is stale)"
                )
            raise CommandError(f"sync of {name} failed: {reason}") from None
        finally:
            bar.close()

    def _handle(self, options: dict[str, Any]) -> None:
        names: list[str] = options["names"]
        if names:
            sources = list(Source.objects.filter(name__in=names))
            missing = sorted(set(names) - {s.name for s in sources})
            if missing:
                raise CommandError(f"no source named {', '.join(missing)} (see `sources list`)")
        else:
            default = self._default_source()
            sources = list(Source.objects.order_by("name"))
            if not sources and default is None:
                raise CommandError(
                    "no sources: add one with `sources add` or set MLFLOW_TRACKING_URI"
                )
        failed = []
        for source in sources:
            try:
                with transaction.atomic():
                    sync_run = sync_request(
                        source=source, full=options["full"], system_actor=SystemActor.COMMAND
                    )
            except SyncAlreadyRunning as exc:
                raise CommandError(str(exc)) from None
            sync_run = self._run(sync_run, source.name)
            if sync_run.status == SyncRun.Status.SUCCEEDED:
                counts = mirror_counts(source=source)
                self.stdout.write(
                    f"synced {source.name}: experiments={counts.get('experiments', 0)} "
                    f"runs={counts.get('runs', 0)} models={counts.get('models', 0)} "
                    f"versions={counts.get('versions', 0)}"
                )
            else:
                failed.append(f"{source.name}: {sync_run.error}")
        if failed:
            raise CommandError("sync failed: " + "; ".join(failed))
