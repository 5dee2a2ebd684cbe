from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def evidence(value: Any) -> str:
    """Show a rule's observed or expected value in plain words, not Python syntax."""
    if value is None:
        return "(nothing)"
    if isinstance(value, list | tuple):
        return ", ".join(evidence(item) for item in value) or "(none)"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {evidence(item)}" for key, item in value.items()) or "(none)"
    return str(value)
