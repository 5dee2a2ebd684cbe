"""Finding 12 (part): the audit trail, its export, the runs tables, a run and
the compliance runs page and CSV answer ``Cache-Control: private, no-store``."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.bad_input.conftest import World

SENSITIVE = [
    ("audit:log", None),
    ("audit:export", None),
    ("tracking:runs", None),
    ("tracking:experiment", "experiment"),
    ("tracking:run", "run"),
    ("reports:runs", None),
    ("reports:runs-csv", None),
]


def _directives(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(",") if part.strip()}


@pytest.mark.parametrize(("name", "argument"), SENSITIVE)
def test_sensitive_pages_are_private_and_not_stored(
    world: World, name: str, argument: str | None
) -> None:
    args = {
        None: [],
        "experiment": [world.mirror.experiment.pk],
        "run": [world.mirror.runs[0].pk],
    }[argument]
    response = world.client.get(reverse(name, args=args))
    assert response.status_code == 200
    assert {"private", "no-store"} <= _directives(response.get("Cache-Control", ""))
    assert "public" not in _directives(response.get("Cache-Control", ""))
