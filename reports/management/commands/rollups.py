"""``manage.py rollups rebuild|check|fold``: the dashboard rollups (reports.rollups)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kernel.commands import outages_in_one_line
from reports import rollups

SHOWN = 10  # differences printed per table


class Command(BaseCommand):
    help = (
        "Dashboard rollups: 'rebuild' recomputes them from the runs and assessments, "
        "'check' compares them with a recomputation (exit 1 if they differ), "
        "'fold' merges their delta rows (the scheduler does this every minute)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["rebuild", "check", "fold"])

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        with outages_in_one_line():
            if options["action"] == "rebuild":
                written = rollups.rebuild()
                rows = ", ".join(f"{table} {n:,}" for table, n in written.items())
                self.stdout.write(
                    f"Rollups rebuilt in {time.monotonic() - started:.1f} s: rows {rows}."
                )
            elif options["action"] == "fold":
                folded = rollups.fold()
                rows = ", ".join(f"{table} {n:,}" for table, n in folded.items())
                self.stdout.write(f"Delta rows folded: {rows}.")
            else:
                self._check()

    def _check(self) -> None:
        if not rollups.is_built():
            raise CommandError(
                "the rollups are not built yet (the dashboard aggregates live): "
                "run 'manage.py rollups rebuild'"
            )
        differences = rollups.check()
        total = sum(len(rows) for rows in differences.values())
        if not total:
            self.stdout.write("Rollups equal a recomputation from the rows.")
            return
        for table, rows in differences.items():
            for key, kept, recomputed in rows[:SHOWN]:
                self.stdout.write(f"{table} {key}: kept {kept}, recomputed {recomputed}")
        raise CommandError(
            f"{total} rollup key(s) differ from a recomputation; "
            "'manage.py rollups rebuild' replaces them"
        )
