"""The audit app's own action names."""

from enum import StrEnum


class AuditAction(StrEnum):
    LOGIN = "auth.login"
    LOGOUT = "auth.logout"
    LOGIN_FAILED = "auth.login_failed"
    LOCKOUT = "auth.lockout"
    EXPORT = "audit.export"
