from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from govdash.models import ApiToken
from govdash.permissions import MANAGE_TOKENS
from govdash.services import token_create, token_revoke


class Command(BaseCommand):
    help = "Create, list and revoke API tokens (the secret is printed once, at creation)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        create = sub.add_parser("create", help="create a token for a user or service account")
        create.add_argument("--user", required=True, help="username the token acts as")
        create.add_argument("--name", required=True, help="what uses the token")
        create.add_argument("--by", required=True, help="username of the admin issuing it")
        sub.add_parser("list", help="one line per token")
        revoke = sub.add_parser("revoke", help="revoke a token by its prefix")
        revoke.add_argument("prefix")
        revoke.add_argument("--by", required=True, help="username of the admin revoking it")

    def _user(self, username: str) -> Any:
        try:
            return get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {username!r}") from None

    def handle(self, *args: Any, **options: Any) -> None:
        command = options["subcommand"]
        if command == "create":
            admin = self._user(options["by"])
            if not admin.has_perm(MANAGE_TOKENS):
                raise CommandError(f"{admin.get_username()} may not issue API tokens")
            try:
                with transaction.atomic():
                    token, secret = token_create(
                        user=self._user(options["user"]), name=options["name"], created_by=admin
                    )
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            self.stdout.write(secret)
        elif command == "list":
            for token in ApiToken.objects.select_related("user"):
                state = "active" if token.is_active else "revoked/expired"
                self.stdout.write(
                    f"gd_{token.prefix}_…\t{token.user.get_username()}\t{token.name}\t{state}"
                )
        elif command == "revoke":
            admin = self._user(options["by"])
            if not admin.has_perm(MANAGE_TOKENS):
                raise CommandError(f"{admin.get_username()} may not revoke API tokens")
            found = ApiToken.objects.filter(prefix=options["prefix"]).first()
            if found is None:
                raise CommandError(f"no token with prefix {options['prefix']!r}")
            token_revoke(token=found, actor=admin)
            self.stdout.write(f"revoked gd_{found.prefix}_…")
