"""Finding 6 on the audit export: the export event records the filters the rows
were selected by (the form's cleaned data), and an invalid filter is refused
with a 400 (before: silently ignored, yet recorded as if applied)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tests.bad_input.conftest import World


def _exports() -> int:
    return AuditEvent.objects.filter(action="audit.export").count()


@pytest.mark.parametrize(
    ("params", "label"),
    [
        ({"since": "not-a-date"}, "From (UTC date)"),
        ({"until": "2026-02-30"}, "Until (UTC date)"),
        ({"outcome": "maybe"}, "Outcome"),
        ({"action": "a" * 300, "since": "yesterday"}, "From (UTC date)"),
    ],
)
def test_an_invalid_filter_is_refused_and_nothing_is_recorded(
    world: World, params: dict[str, str], label: str
) -> None:
    before = _exports()
    response = world.client.get(reverse("audit:export"), params)
    assert response.status_code == 400
    text = response.content.decode()
    assert "Invalid filter, nothing was exported." in text
    assert label in text
    assert _exports() == before


def test_the_export_records_exactly_the_cleaned_filters(world: World) -> None:
    response = world.client.get(
        reverse("audit:export"),
        {
            "action": "auth.",
            "since": "2026-01-05",
            "until": "",  # empty: not a filter
            "outcome": "success",
            "bogus": "1",  # not a filter: not recorded
            "page": "3",
            "sort": "-timestamp",
        },
    )
    assert response.status_code == 200
    b"".join(response.streaming_content)  # type: ignore[attr-defined]
    event = AuditEvent.objects.filter(action="audit.export").latest("sequence")
    assert event.data == {
        "filters": {"action": "auth.", "since": "2026-01-05", "outcome": "success"}
    }
