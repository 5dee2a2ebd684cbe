from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from govdash.demo import credentials as credential_store
from govdash.demo.users import ensure_demo_users
from kernel.roles import missing_role_groups


class Command(BaseCommand):
    help = (
        "Create the demo users (one per role, three reviewers) and print their passwords. "
        "Passwords are generated once and kept in .demo/credentials.json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--credentials",
            type=Path,
            default=credential_store.DEFAULT_PATH,
            help="where the passwords are kept (default: .demo/credentials.json)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        missing = missing_role_groups()
        if missing:
            raise CommandError(
                f"role groups missing ({', '.join(sorted(missing))}); run `manage.py migrate` first"
            )
        try:
            created = ensure_demo_users(path=options["credentials"])
        except credential_store.CredentialsError as exc:
            raise CommandError(f"{exc}; delete it to generate new passwords") from None
        except OSError as exc:
            raise CommandError(f"cannot store demo credentials: {exc}") from None
        self.stdout.write(credential_store.format_table(created))
