"""Audit action names for accounts-level objects (API tokens, demo users)."""

from enum import StrEnum


class AccountsAction(StrEnum):
    TOKEN_CREATE = "api_token.create"  # noqa: S105 - an action name
    TOKEN_REVOKE = "api_token.revoke"  # noqa: S105 - an action name
    TOKEN_WRITE = "api_token.write"  # noqa: S105 - an action name
    USER_CREATE = "user.create"
    USER_UPDATE = "user.update"
