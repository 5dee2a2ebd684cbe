"""Property: whatever text a caller puts in the query parameters (or the text
and number segments of an address) of a list page or an API endpoint, the answer
is 2xx, 3xx or 4xx, never a 5xx.

Bounded (``EXAMPLES`` per group of endpoints, no deadline) so the file runs in
seconds. The parameters are mostly those each endpoint reads (taken from its
FilterSet, form or OpenAPI description, so a new filter is covered without
editing this file), with values from arbitrary unicode text (control
characters and NUL included), huge and negative numbers, odd dates and a few
hand-picked troublemakers; sometimes an unknown parameter too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import pytest
from django.http import HttpResponseBase
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.filters import AuditEventFilter
from govdash.api import api
from reports.forms import ComplianceFilterForm, ComplianceRunsFilterForm
from tests.bad_input.conftest import World
from tracking.filters import ExperimentFilter, ModelFilter, RunFilter

EXAMPLES = 100
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TABLE = ["page", "per_page", "sort"]

TROUBLE = [
    "",
    "0",
    "-1",
    "-5",
    "1",
    "500",
    "501",
    "100000",
    "99999999999999999999",
    str(2**63),
    str(-(2**63) - 1),
    "1e9",
    "NaN",
    "inf",
    "0x10",
    " 1",
    "1_0",
    "\u0665",  # an Arabic-Indic digit: int() reads it
    "\u00b2",
    "2026-02-30",
    "2026-01-01",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "\x00",
    "a\x00b",
    "%00",
    "\n",
    "\r\n",
    "\ufeff",
    "'",
    '"',
    "\\",
    "<script>",
    "%",
    "_",
    "*",
    "..",
    "/",
    "=",
    "a=b",
    "==",
    "official",
    "deleted",
    "all",
    "active",
    "default",
    "risk",
    "success",
    "none",
    "yes",
    "-name",
    "name,-name",
    "x" * 2000,
]
VALUES = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(TROUBLE),
    st.dates().map(str),
)


def _query(names: Iterable[str]) -> st.SearchStrategy[dict[str, list[str]]]:
    known = sorted(set(names))
    anything = st.text(max_size=12)
    keys = st.one_of(st.sampled_from(known), anything) if known else anything
    return st.dictionaries(keys, st.lists(VALUES, min_size=1, max_size=2), max_size=5)


def _ok(response: HttpResponseBase) -> int:
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return response.status_code


def _get(client: Client, url: str, params: dict[str, list[str]]) -> int:
    return _ok(client.get(url, params))


# --------------------------------------------------------------------------- pages


def _filters(filterset: Any) -> list[str]:
    return list(filterset.base_filters)


def tracking_pages(world: World) -> list[tuple[str, list[str]]]:
    m = world.mirror
    assert m.model is not None
    return [
        (reverse("tracking:runs"), _filters(RunFilter) + TABLE),
        (reverse("tracking:experiments"), _filters(ExperimentFilter) + TABLE),
        (reverse("tracking:models"), _filters(ModelFilter) + TABLE),
        (reverse("tracking:sources"), []),
        (reverse("tracking:source", args=[m.source.name]), TABLE),
        (reverse("tracking:experiment", args=[m.experiment.pk]), _filters(RunFilter) + TABLE),
        (
            reverse("tracking:model", args=[m.model.pk]),
            [prefix + name for prefix in ("v-", "h-") for name in TABLE],
        ),
    ]


def compliance_and_audit_pages() -> list[tuple[str, list[str]]]:
    return [
        (reverse("reports:dashboard"), list(ComplianceFilterForm.base_fields)),
        (reverse("reports:runs"), list(ComplianceRunsFilterForm.base_fields) + TABLE),
        (reverse("reports:runs-csv"), list(ComplianceRunsFilterForm.base_fields)),
        (reverse("reports:policies"), []),
        (reverse("reports:policy", args=["default"]), ["version"]),
        (reverse("audit:log"), _filters(AuditEventFilter) + TABLE),
        (reverse("audit:export"), _filters(AuditEventFilter)),
    ]


@BOUNDED
@given(data=st.data())
def test_tracking_list_pages_never_answer_5xx(world: World, data: st.DataObject) -> None:
    url, names = data.draw(st.sampled_from(tracking_pages(world)), label="page")
    assert _get(world.client, url, data.draw(_query(names), label="query")) < 500


@BOUNDED
@given(data=st.data())
def test_compliance_and_audit_pages_never_answer_5xx(world: World, data: st.DataObject) -> None:
    url, names = data.draw(st.sampled_from(compliance_and_audit_pages()), label="page")
    assert _get(world.client, url, data.draw(_query(names), label="query")) < 500


# Pages whose address carries text or a number a view looks up.
PAGE_ADDRESSES = [
    "/tracking/sources/{text}/",
    "/tracking/models/{model}/versions/{text}/",
    "/compliance/policies/{text}/",
    "/compliance/policies/default/versions/{number}.yaml",
    "/tracking/runs/{number}/",
    "/tracking/experiments/{number}/",
    "/tracking/models/{number}/",
    "/tracking/syncs/{number}/progress",
]
SEGMENT_TEXT = st.one_of(st.text(min_size=1, max_size=40), st.sampled_from(TROUBLE[1:]))
SEGMENT_NUMBER = st.one_of(
    st.integers(min_value=0, max_value=10**30), st.sampled_from([2**31, 2**63, 2**64])
)


@BOUNDED
@given(data=st.data())
def test_page_addresses_never_answer_5xx(world: World, data: st.DataObject) -> None:
    assert world.mirror.model is not None
    template = data.draw(st.sampled_from(PAGE_ADDRESSES), label="address")
    url = template.format(
        text=quote(data.draw(SEGMENT_TEXT, label="text"), safe=""),
        number=data.draw(SEGMENT_NUMBER, label="number"),
        model=world.mirror.model.pk,
    )
    assert _get(world.client, url, {}) < 500


# --------------------------------------------------------------------------- API


@functools.cache
def api_endpoints() -> list[tuple[str, dict[str, str], list[str]]]:
    """Every GET of the API: (path template, path parameters by type, query names)."""
    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    endpoints = []
    for path, operations in schema["paths"].items():
        if "get" not in operations:
            continue
        parameters = operations["get"].get("parameters", [])
        in_path = {
            p["name"]: p["schema"].get("type", "string") for p in parameters if p["in"] == "path"
        }
        query = [p["name"] for p in parameters if p["in"] == "query"]
        endpoints.append((path, in_path, query))
    return endpoints


def test_the_api_walk_covers_the_list_endpoints() -> None:
    paths = {path for path, _, _ in api_endpoints()}
    assert {"/api/v1/runs", "/api/v1/experiments", "/api/v1/models"} <= paths
    assert {"/api/v1/sources", "/api/v1/policies", "/api/v1/compliance/summary"} <= paths


@BOUNDED
@given(data=st.data())
def test_api_endpoints_never_answer_5xx(world: World, data: st.DataObject) -> None:
    path, in_path, names = data.draw(st.sampled_from(api_endpoints()), label="endpoint")

    def segment(match: re.Match[str]) -> str:
        kind = in_path.get(match.group(1), "string")
        value = data.draw(SEGMENT_NUMBER if kind == "integer" else SEGMENT_TEXT, label=kind)
        return quote(str(value), safe="")

    url = re.sub(r"\{(\w+)\}", segment, path)
    response = world.client.get(url, data.draw(_query(names), label="query"))
    assert _ok(response) < 500
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json"), url
        assert "detail" in response.json()


@pytest.mark.parametrize("url", ["/api/v1/runs", "/tracking/runs/"])
def test_the_walked_endpoints_answer_a_plain_query(world: World, url: str) -> None:
    """The walk reaches the views (not a login redirect): a plain query answers 200."""
    assert _get(world.client, url, {"q": ["scoring"]}) == 200


@pytest.mark.parametrize("version", ["\u00b2", "\u0665", "1\u00b9"])
def test_a_policy_version_in_digits_int_refuses_is_not_a_500(world: World, version: str) -> None:
    """Found by the walk above: "²".isdigit() is true, int("²") raises."""
    url = reverse("reports:policy", args=["default"])
    assert _get(world.client, url, {"version": [version]}) == 200
