"""A small mirror, the default policy and a signed-in administrator: enough for
every table page, list endpoint and export to have rows to page through."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse

from tests.tracking_pages.conftest import Mirror, build_mirror


@dataclass(frozen=True)
class TablePage:
    """A page with a django-tables2 table: its URL, the context name of the
    table and the table's parameter prefix."""

    name: str
    url: str
    table: str = "table"
    prefix: str = ""
    # Paged by cursor (kernel.tables.configure_keyset_table), not by number.
    keyset: bool = False


@dataclass
class World:
    mirror: Mirror
    client: Client
    table_pages: list[TablePage]

    def table_page(self, name: str) -> TablePage:
        return next(page for page in self.table_pages if page.name == name)


TABLE_PAGES = (
    "tracking runs",
    "tracking experiments",
    "experiment runs",
    "tracking models",
    "model versions",
    "model alias history",
    "source sync history",
    "compliance runs",
    "audit log",
)


def table_pages(mirror: Mirror) -> list[TablePage]:
    """Every page that shows a table (kernel.tables.configure_table), with each
    table of a page that has several."""
    assert mirror.model is not None
    model = reverse("tracking:model", args=[mirror.model.pk])
    return [
        TablePage("tracking runs", reverse("tracking:runs"), keyset=True),
        TablePage("tracking experiments", reverse("tracking:experiments")),
        TablePage(
            "experiment runs",
            reverse("tracking:experiment", args=[mirror.experiment.pk]),
            keyset=True,
        ),
        TablePage("tracking models", reverse("tracking:models")),
        TablePage("model versions", model, table="versions", prefix="v-"),
        TablePage("model alias history", model, table="history", prefix="h-"),
        TablePage("source sync history", reverse("tracking:source", args=[mirror.source.name])),
        TablePage("compliance runs", reverse("reports:runs"), keyset=True),
        TablePage("audit log", reverse("audit:log")),
    ]


@pytest.fixture
def world(db: None, default_policy, make_user) -> World:  # type: ignore[no-untyped-def]
    mirror = build_mirror()
    client = Client()
    client.force_login(make_user("ada", "admin"))
    world = World(mirror=mirror, client=client, table_pages=table_pages(mirror))
    assert [page.name for page in world.table_pages] == list(TABLE_PAGES)
    return world
