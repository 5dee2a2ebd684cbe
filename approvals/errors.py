"""The approval workflow's refusals (kernel.errors kinds, so every caller maps them alike)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError

from kernel.errors import DomainError


class _Invalid(DomainError, ValidationError):
    """A 422 whose ``str()`` is its message (Django's ValidationError shows a list)."""

    def __str__(self) -> str:
        return " ".join(self.messages)


class GateFailed(_Invalid):
    """A gate refused the request (HTTP 422); ``reasons`` holds every failing gate in words."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("; ".join(self.reasons) or "a gate failed")


class WorkflowUnsatisfiable(_Invalid):
    """The environment's workflow cannot be completed for this request (HTTP 422)."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("; ".join(self.reasons) or "the workflow cannot be satisfied")


class NotEligible(DomainError, PermissionDenied):
    """This person may not do this on this request (HTTP 403); the message says why."""


class CommentRequired(_Invalid):
    """A rejection needs a comment (HTTP 422)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
