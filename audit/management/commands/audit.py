from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.services import verify


class Command(BaseCommand):
    help = "Audit trail tools. `audit verify` checks the hash chain (exit 0 intact, 1 broken)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        sub.add_parser("verify", help="check every link of the hash chain")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "verify":
            result = verify()
            if not result.intact:
                where = (
                    f" at sequence {result.first_bad_sequence}"
                    if result.first_bad_sequence is not None
                    else ""
                )
                raise CommandError(
                    f"audit chain BROKEN{where}: {result.reason} "
                    f"({result.checked} events verified before it)",
                    returncode=1,
                )
            self.stdout.write(
                f"audit chain intact: {result.checked} events, "
                f"head sequence {result.head_sequence} hash {result.head_hash}"
            )
