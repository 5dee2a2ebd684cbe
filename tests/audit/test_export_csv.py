"""The audit trail's CSV export: content, order, filters, formula safety, access."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import unicodedata
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.test import Client, RequestFactory
from django.urls import reverse

from audit.actors import CLAIMED_USERNAME_MAX, UNVERIFIED, SystemActor
from audit.models import AuditEvent
from audit.services import record, verify
from kernel.roles import GRANTS, Role

pytestmark = pytest.mark.django_db

HEADER = [
    "sequence",
    "timestamp",
    "actor_username",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "data",
    "remote_addr",
    "request_id",
    "prev_hash",
    "hash",
]
# Typed into the login form: the form keeps these as they are.
FORM_PAYLOADS = ['=HYPERLINK("http://x")', "+1", "-1", "@SUM(A1)"]
# The login form strips whitespace and folds full-width signs (NFKC) before
# authenticating; any other caller of authenticate() passes names untouched.
RAW_PAYLOADS = ["  =1+1", "\uff1d1+1", "\t=1+1", "\u3000@SUM(A1)"]
PAYLOADS = FORM_PAYLOADS + RAW_PAYLOADS


def would_evaluate(cell: str) -> bool:
    """Would a spreadsheet read this cell as a formula? (Written here, not imported.)"""
    if not cell:
        return False
    if cell[0] in "=+-@\t\r\n":
        return True
    rest = cell.lstrip().lstrip("\ufeff\u200b").lstrip()
    return bool(rest) and unicodedata.normalize("NFKC", rest[0])[0] in "=+-@"


def neutralised(value: str) -> str:
    return "'" + value if would_evaluate(value) else value


def _fail_login_form(client: Client, username: str, n: int) -> None:
    # A different address for each attempt: the per-address lockout stays away.
    response = client.post(
        reverse("login"),
        {"username": username, "password": "not the password"},
        REMOTE_ADDR=f"10.9.0.{n}",
    )
    assert response.status_code == 200


def _fail_authenticate(username: str, n: int) -> None:
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR=f"10.9.1.{n}")
    assert authenticate(request, username=username, password="not the password") is None


def _export(client: Client, **params: str) -> list[list[str]]:
    response = client.get(reverse("audit:export"), params)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="govdash-audit-')
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def _expected_row(event: AuditEvent) -> list[str]:
    plain: list[Any] = [
        str(event.sequence),
        None,  # timestamp: compared as a time below
        event.actor_username,
        event.actor_role,
        event.action,
        event.target_type,
        event.target_id,
        event.outcome,
        None,  # data: compared as JSON below
        event.remote_addr or "",
        event.request_id,
        event.prev_hash,
        event.hash,
    ]
    return [neutralised(v) if isinstance(v, str) else v for v in plain]


def _assert_rows_match(rows: list[list[str]], events: list[AuditEvent]) -> None:
    assert [row[0] for row in rows] == [str(e.sequence) for e in events]
    for row, event in zip(rows, events, strict=True):
        expected = _expected_row(event)
        for index, (got, want) in enumerate(zip(row, expected, strict=True)):
            if want is not None:
                assert got == want, (event.sequence, HEADER[index], got, want)
        assert dt.datetime.fromisoformat(row[1].replace("Z", "+00:00")) == event.timestamp
        assert json.loads(row[8]) == event.data


@pytest.fixture
def auditor(make_user):  # type: ignore[no-untyped-def]
    return make_user("audrey", Role.AUDITOR.value)


@pytest.fixture
def trail(client: Client) -> None:
    """System events, failed logins with hostile names, and a moment in the past."""
    record(action="test.started", system_actor=SystemActor.SYSTEM, data={"n": 1, "ü": "✓"})
    for n, payload in enumerate(FORM_PAYLOADS, start=1):
        _fail_login_form(client, payload, n)
    for n, payload in enumerate(RAW_PAYLOADS, start=1):
        _fail_authenticate(payload, n)
    record(action="test.target", system_actor=SystemActor.SYNC, target=("tracking.run", "-7"))


@pytest.fixture
def signed_in(client: Client, auditor, trail) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(auditor)  # records auth.login too
    return client


def test_failed_logins_reach_the_trail_with_the_names_as_typed(trail):
    recorded = list(
        AuditEvent.objects.filter(action="auth.login_failed")
        .order_by("sequence")
        .values_list("actor_username", "actor_role", "target_id")
    )
    assert recorded == [(p, UNVERIFIED, p) for p in PAYLOADS]


def test_header_and_rows_are_the_events_in_sequence_order(signed_in):
    table = _export(signed_in)
    assert table[0] == HEADER
    rows = table[1:]
    events = list(AuditEvent.objects.order_by("sequence"))
    assert len(rows) == len(events) >= len(PAYLOADS) + 3
    _assert_rows_match(rows, events)
    # Newest-first is the model's default order: the export must not follow it.
    assert [int(row[0]) for row in rows] == sorted(int(row[0]) for row in rows)
    # The export's own event is the last row (recorded before the rows are read).
    assert rows[-1][4] == "audit.export"


def test_every_cell_a_spreadsheet_would_evaluate_is_neutralised(signed_in):
    rows = _export(signed_in)[1:]
    dangerous = [
        (row[0], HEADER[i], cell)
        for row in rows
        for i, cell in enumerate(row)
        if would_evaluate(cell)
    ]
    assert not dangerous
    by_name = {row[2]: row for row in rows if row[4] == "auth.login_failed"}
    for payload in PAYLOADS:
        # Kept whole, only prefixed with a quote: the auditor sees what was typed.
        row = by_name["'" + payload]
        assert row[6] == "'" + payload  # target_id carries the name too
        assert row[3] == UNVERIFIED
    assert next(r for r in rows if r[4] == "test.target")[6] == "'-7"


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"action": "auth.login_failed"}, lambda e: e.action == "auth.login_failed"),
        ({"action": "test."}, lambda e: e.action.startswith("test.")),
        ({"actor": "+1"}, lambda e: e.actor_username == "+1"),
        ({"outcome": "failure"}, lambda e: e.outcome == "failure"),
        ({"target_type": "tracking.run"}, lambda e: e.target_type == "tracking.run"),
        ({"action": "auth.", "outcome": "success"}, lambda e: e.action == "auth.login"),
    ],
    ids=["action", "action-prefix", "actor", "outcome", "target-type", "two-filters"],
)
def test_filters_are_respected(signed_in, params, keep):
    before = list(AuditEvent.objects.order_by("sequence"))
    expected = [event for event in before if keep(event)]
    assert expected
    assert len(expected) < len(before)
    rows = _export(signed_in, **params)[1:]
    _assert_rows_match(rows, expected)


def test_date_filters_are_respected(signed_in):
    first = AuditEvent.objects.order_by("sequence").first()
    day = first.timestamp.astimezone(dt.UTC).date()
    assert _export(signed_in, since=str(day + dt.timedelta(days=1)))[1:] == []
    assert _export(signed_in, until=str(day - dt.timedelta(days=1)))[1:] == []
    rows = _export(signed_in, since=str(day), until=str(day))[1:]
    # The rows are read after the export records itself, so its event is in them.
    on_day = [
        e
        for e in AuditEvent.objects.order_by("sequence")
        if e.timestamp.astimezone(dt.UTC).date() == day
    ]
    assert [e.action for e in on_day].count("audit.export") == 3
    _assert_rows_match(rows, on_day)


def test_the_export_is_audited_with_its_filters(signed_in, auditor):
    _export(signed_in, action="auth.login_failed", outcome="failure", actor="")
    event = AuditEvent.objects.newest_first().first()
    assert event.action == "audit.export"
    assert event.actor_id == auditor.pk
    assert (event.actor_username, event.actor_role) == ("audrey", Role.AUDITOR.value)
    assert event.outcome == "success"
    # Empty filters are left out: the event says what was exported.
    assert event.data == {"filters": {"action": "auth.login_failed", "outcome": "failure"}}
    assert verify().intact


def test_an_unfiltered_export_is_audited_with_no_filters(signed_in):
    _export(signed_in)
    assert AuditEvent.objects.newest_first().first().data == {"filters": {}}


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_only_roles_with_the_export_right_may_export(client, make_user, trail, role):
    client.force_login(make_user("someone", role.value))
    exports_before = AuditEvent.objects.filter(action="audit.export").count()
    response = client.get(reverse("audit:export"))
    if "audit.export_auditevent" in GRANTS[role]:
        assert response.status_code == 200
        b"".join(response.streaming_content)
        assert AuditEvent.objects.filter(action="audit.export").count() == exports_before + 1
    else:
        assert response.status_code == 403
        assert AuditEvent.objects.filter(action="audit.export").count() == exports_before


def test_some_role_may_export_and_some_may_not():
    # Guards the parametrised test above against a table where it proves nothing.
    holders = {role for role in Role if "audit.export_auditevent" in GRANTS[role]}
    assert holders
    assert holders != set(Role)


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(reverse("audit:export"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith(reverse("login"))
    assert not AuditEvent.objects.filter(action="audit.export").exists()


def test_only_get_is_allowed(client, auditor):
    client.force_login(auditor)
    assert client.post(reverse("audit:export")).status_code == 405


def test_a_500_character_username_is_recorded_cut_to_64_and_unverified(client):
    typed = "=" + "ü" * 499  # a formula sign too: cut, then neutralised in exports
    _fail_login_form(client, typed, 99)
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert CLAIMED_USERNAME_MAX == 64
    assert event.actor_username == typed[:64]
    assert len(event.actor_username) == 64
    assert event.actor_role == UNVERIFIED
    assert event.actor_id is None
    assert (event.target_type, event.target_id) == ("auth.user", typed[:64])
    assert event.outcome == "failure"
    assert verify().intact


def test_a_500_character_username_from_any_caller_is_cut_too():
    _fail_authenticate("x" * 500, 99)
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert (event.actor_username, event.actor_role) == ("x" * 64, UNVERIFIED)
    assert event.target_id == "x" * 64


def test_record_itself_cuts_a_claimed_username():
    # Defence in depth: a caller other than the login receivers is cut too.
    event = record(action="test.claimed", claimed_username="y" * 500)
    assert (event.actor_username, event.actor_role) == ("y" * 64, UNVERIFIED)
