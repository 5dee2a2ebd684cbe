"""Audit action names for accounts-level objects (API tokens, demo users)."""

from enum import StrEnum


class AccountsAction(StrEnum):
    TOKEN_CREATE = "api_token.create"  # noqa: S105 - an action name
    TOKEN_REVOKE = "api_token.revoke"  # noqa: S105 - an action name
    TOKEN_WRITE = "api_token.write"  # noqa: S105 - an action name
    USER_CREATE = "user.create"
    USER_UPDATE = "user.update"
    # Any change to accounts, roles and rights, by any path (govdash/account_audit.py).
    ACCOUNT_CREATE = "account.create"
    ACCOUNT_CHANGE = "account.change"
    ACCOUNT_DELETE = "account.delete"
    USER_GROUPS = "account.groups"  # membership of role groups: role grants and removals
    USER_PERMISSIONS = "account.permissions"
    GROUP_CREATE = "group.create"
    GROUP_CHANGE = "group.change"
    GROUP_DELETE = "group.delete"
    GROUP_PERMISSIONS = "group.permissions"
