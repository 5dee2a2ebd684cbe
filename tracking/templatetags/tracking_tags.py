"""Small display helpers for the mirror's pages."""

from __future__ import annotations

from django import template

from tracking.tables import format_counts, format_duration, status_tag

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    return format_duration(seconds)


@register.filter
def sync_counts(value: dict[str, int] | None) -> str:
    return format_counts(value or {})


@register.simple_tag
def sync_status(sync_run: object) -> str:
    return status_tag(sync_run.status, sync_run.get_status_display())  # type: ignore[attr-defined]
