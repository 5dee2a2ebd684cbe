"""The mirror's pages: what they show, what they hide, who may act."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from tests.attention import attention, minute, recovered_at
from tests.tracking_pages.conftest import SCRIPT, Mirror, make_run
from tracking.alerts import AlertAlreadyAcknowledged, alert_acknowledge
from tracking.models import AliasChange, Experiment, RegisteredModel, Run, Source, SyncRun
from tracking.services import source_create, sync_reap, sync_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client: Client, make_user) -> Client:
    client.force_login(make_user("ana", "ml-engineer"))
    return client


@pytest.fixture
def officer(client: Client, make_user) -> Client:
    client.force_login(make_user("olivia", "compliance-officer"))
    return client


@pytest.fixture
def admin(client: Client, make_user) -> Client:
    client.force_login(make_user("ada", "admin"))
    return client


def _html(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _records(response, table: str = "table") -> list:  # type: ignore[no-untyped-def]
    return [row.record for row in response.context[table].page.object_list]


def _run_names(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [run.run_name for run in _records(response)]


# --------------------------------------------------------------------------- sources


def test_sources_page_shows_kind_url_credential_origin_and_last_sync(reader, mirror: Mirror):
    html = _html(reader.get(reverse("tracking:sources")))
    assert "https://mlflow.example.gov" in html
    assert "credential from environment variable GOVDASH_SOURCE_TOKEN_RISK" in html
    assert "credential stored encrypted" in html
    assert f"Sync #{mirror.sync.pk}" in html
    assert "after 42.0 s" in html
    assert "created 8, runs 8" in html
    assert "Never synced." in html  # the GitLab source


def test_sources_page_shows_unsupported_capabilities_as_such(reader, mirror: Mirror):
    html = _html(reader.get(reverse("tracking:sources")))
    assert "GitLab: no model-version search" in html
    assert "GitLab: no run search across experiments" in html
    assert "runs/search takes one experiment id" in html
    assert "Not checked yet" in html  # the MLflow source was never probed


def test_no_page_or_answer_ever_contains_a_stored_secret(reader, mirror: Mirror):
    encrypted = mirror.other.secret_encrypted
    assert encrypted
    for url in (
        reverse("tracking:sources"),
        reverse("tracking:source", args=[mirror.other.name]),
        "/api/v1/sources",
        f"/api/v1/sources/{mirror.other.name}",
    ):
        body = reader.get(url).content.decode()
        assert "glpat-super-secret-value" not in body, url
        assert encrypted not in body, url
        assert encrypted[:24] not in body, url


LONG_AGO = timezone.now() - dt.timedelta(hours=2)


def _overdue_and_recovered_syncs(source: Source, other: Source) -> tuple[SyncRun, SyncRun, SyncRun]:
    """A sync of ``source`` the maintenance tick failed as lost, then one
    running with no heartbeat for two hours; a sync of ``other`` queued as long
    and not started (one active sync per source)."""
    lost = SyncRun.objects.create(
        source=source, status="running", started_at=LONG_AGO, heartbeat_at=LONG_AGO
    )
    assert sync_reap(lost, reason="its job ended without recording an end (the worker was killed)")
    running = SyncRun.objects.create(
        source=source, status="running", started_at=LONG_AGO, heartbeat_at=LONG_AGO
    )
    queued = SyncRun.objects.create(source=other, status="queued")
    SyncRun.objects.filter(pk=queued.pk).update(created_at=LONG_AGO)
    return running, queued, lost


def test_sources_page_shows_overdue_and_recovered_syncs_with_when_and_why(reader, mirror: Mirror):
    running, queued, lost = _overdue_and_recovered_syncs(mirror.source, mirror.other)
    heading, items = attention(_html(reader.get(reverse("tracking:sources"))))
    assert heading == "Syncs needing attention"
    assert items == [
        f"Overdue: Sync #{queued.pk} of {mirror.other.name} · since {minute(LONG_AGO)} · "
        "queued for over 600 s and not started: is a worker listening on the sync queue?",
        f"Overdue: Sync #{running.pk} of {mirror.source.name} · since {minute(LONG_AGO)} · "
        "running, no progress reported for over 600 s: its worker may be gone; "
        "the maintenance tick fails it and resumes from its checkpoint",
        f"Recovered: failed: Sync #{lost.pk} of {mirror.source.name} · "
        f"{recovered_at('tracking.sync_lost')} · "
        "its job ended without recording an end (the worker was killed)",
    ]


def test_sources_page_shows_no_attention_section_when_all_is_well(reader, mirror: Mirror):
    assert "data-work-attention" not in _html(reader.get(reverse("tracking:sources")))


def test_sources_page_queries_do_not_grow_with_sources(
    reader, mirror: Mirror, django_assert_num_queries
):
    extra = []
    for number in range(4):
        source = source_create(name=f"extra-{number}", url=f"https://m{number}.example.gov")
        SyncRun.objects.create(source=source, status="succeeded", counts={"runs": 1})
        extra.append(source)
    _overdue_and_recovered_syncs(extra[0], extra[1])
    _overdue_and_recovered_syncs(extra[2], extra[3])
    # session, user, newest sync per source (2), sources, the syncs' requesters,
    # overdue syncs, recovered syncs (audit events), the user's roles,
    # navigation permissions (2), session save (3).
    with django_assert_num_queries(11):
        reader.get(reverse("tracking:sources"))


def test_source_detail_shows_mirror_counts_and_paginated_sync_history(reader, mirror: Mirror):
    for _ in range(30):
        SyncRun.objects.create(source=mirror.source, status="failed", error="server said 503")
    html = _html(reader.get(reverse("tracking:source", args=["risk"])))
    assert "Sync history of risk" in html
    assert "server said 503" in html
    assert "Page 1 of 2" in html
    response = reader.get(reverse("tracking:source", args=["risk"]), {"page": 2})
    assert len(response.context["table"].page.object_list) == 31 - 25


def test_reader_sees_no_sync_button_and_cannot_start_a_sync(reader, mirror: Mirror):
    assert "Sync now" not in _html(reader.get(reverse("tracking:sources")))
    response = reader.post(reverse("tracking:source-sync", args=["risk"]))
    assert response.status_code == 403
    assert SyncRun.objects.filter(source=mirror.source).count() == 1


@pytest.mark.redis
def test_compliance_officer_queues_a_sync_on_real_redis(officer, mirror: Mirror, redis_queue):
    queue = redis_queue("sync")
    assert "Sync now" in _html(officer.get(reverse("tracking:sources")))
    response = officer.post(reverse("tracking:source-sync", args=["risk"]), follow=True)
    sync_run = SyncRun.objects.active().get(source=mirror.source)
    assert sync_run.requested_by.username == "olivia"
    assert queue.job_ids == [sync_run.job_id]
    html = _html(response)
    assert f"#{sync_run.pk} of risk queued" in html
    # The page now polls that sync's progress.
    assert f'hx-get="{reverse("tracking:sync-progress", args=[sync_run.pk])}"' in html


def test_sync_now_while_a_sync_is_running_says_so(officer, mirror: Mirror):
    running = sync_request(source=mirror.source)
    response = officer.post(reverse("tracking:source-sync", args=["risk"]), follow=True)
    assert f"already queued (sync #{running.pk})" in _html(response)
    assert SyncRun.objects.active().get(source=mirror.source) == running


def test_sync_now_with_the_queue_down_says_so_and_leaves_nothing_queued(
    officer, mirror: Mirror, settings
):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = officer.post(reverse("tracking:source-sync", args=["risk"]), follow=True)
    assert "could not be started: the job queue cannot be reached" in _html(response)
    assert not SyncRun.objects.active().filter(source=mirror.source).exists()


def test_sync_redirect_never_leaves_the_site(officer, mirror: Mirror, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = officer.post(
        reverse("tracking:source-sync", args=["risk"]), {"next": "https://evil.example/"}
    )
    assert response.headers["Location"] == reverse("tracking:sources")


# --------------------------------------------------------------------------- htmx progress


def test_progress_partial_of_a_running_sync_polls_every_two_seconds(reader, mirror: Mirror):
    sync_run = sync_request(source=mirror.source)
    SyncRun.objects.filter(pk=sync_run.pk).update(
        status="running", phase="runs: credit-scoring", progress_done=30, progress_total=120
    )
    html = _html(
        reader.get(reverse("tracking:sync-progress", args=[sync_run.pk]), HTTP_HX_REQUEST="true")
    )
    assert 'hx-trigger="every 2s"' in html
    assert 'hx-swap="outerHTML"' in html
    assert 'value="25"' in html
    assert "runs: credit-scoring" in html
    assert "30 of about 120 items" in html
    assert "<html" not in html  # a fragment, not a page


def test_progress_partial_stops_polling_once_the_sync_ended(reader, mirror: Mirror):
    html = _html(reader.get(reverse("tracking:sync-progress", args=[mirror.sync.pk])))
    assert "hx-trigger" not in html
    assert "hx-get" not in html
    assert "Succeeded" in html
    assert "after 42.0 s" in html


def test_queued_sync_shows_an_indeterminate_bar(reader, mirror: Mirror):
    sync_run = sync_request(source=mirror.source)
    html = _html(reader.get(reverse("tracking:sync-progress", args=[sync_run.pk])))
    assert 'hx-trigger="every 2s"' in html
    assert "Waiting for a worker" in html


# --------------------------------------------------------------------------- adding a source


def test_admin_adds_a_source_with_an_encrypted_secret(admin, db):
    response = admin.post(
        reverse("tracking:source-add"),
        {
            "name": "fraud",
            "kind": "mlflow",
            "url": "https://fraud.example.gov/",
            "auth": "bearer",
            "secret": "s3cr3t-token-value",
            "watched_aliases": "production, champion",
        },
    )
    assert response.status_code == 302
    source = Source.objects.get(name="fraud")
    assert response.headers["Location"] == source.get_absolute_url()
    assert source.secret_encrypted
    assert "s3cr3t" not in source.secret_encrypted
    assert source.watched_aliases == ["production", "champion"]
    event = AuditEvent.objects.get(action="tracking.source_create")
    assert event.actor_username == "ada"
    assert "s3cr3t" not in str(event.data)


def test_admin_adds_a_source_reading_its_token_from_the_environment(admin, db):
    admin.post(
        reverse("tracking:source-add"),
        {
            "name": "env",
            "kind": "mlflow",
            "url": "https://e.example.gov",
            "auth": "bearer",
            "secret_env": "GOVDASH_SOURCE_TOKEN_FRAUD",
        },
    )
    source = Source.objects.get(name="env")
    assert (source.secret_env, source.secret_encrypted) == ("GOVDASH_SOURCE_TOKEN_FRAUD", "")


def test_secret_is_not_rendered_back_when_the_form_has_errors(admin, db):
    response = admin.post(
        reverse("tracking:source-add"),
        {
            "name": "gl",
            "kind": "gitlab",
            "url": "https://gitlab.example.gov/not/an/mlflow/path",
            "auth": "bearer",
            "secret": "glpat-do-not-echo-me",
        },
    )
    html = _html(response)
    assert "looks like" in html  # the service's message about GitLab URLs
    assert "glpat-do-not-echo-me" not in html
    assert response.headers["Cache-Control"] == "no-store"
    assert not Source.objects.filter(name="gl").exists()


def test_both_credential_kinds_at_once_are_refused_without_echoing_the_secret(admin, db):
    response = admin.post(
        reverse("tracking:source-add"),
        {
            "name": "both",
            "kind": "mlflow",
            "url": "https://b.example.gov",
            "auth": "bearer",
            "secret_env": "GOVDASH_SOURCE_TOKEN_B",
            "secret": "plain-secret-value",
        },
    )
    html = _html(response)
    assert "not both" in html
    assert "plain-secret-value" not in html


def test_admin_cannot_point_a_source_at_a_server_secret(admin, db):
    # The probe's finding: a listener as URL, the server's own key as "token variable".
    response = admin.post(
        reverse("tracking:source-add"),
        {
            "name": "exfil",
            "kind": "mlflow",
            "url": "https://listener.example.net",
            "auth": "bearer",
            "secret_env": "GOVDASH_SECRET_KEY",
        },
    )
    html = _html(response)
    assert "may not read GOVDASH_SECRET_KEY" in html
    assert "GOVDASH_SOURCE_TOKEN_&lt;NAME&gt;" in html
    assert response.context["form"].errors["secret_env"]
    assert not Source.objects.filter(name="exfil").exists()


def test_source_url_with_embedded_credentials_is_refused(admin, db):
    response = admin.post(
        reverse("tracking:source-add"),
        {
            "name": "inurl",
            "kind": "mlflow",
            "url": "https://robot:pw-in-the-url@mlflow.example.gov",
            "auth": "none",
        },
    )
    html = _html(response)
    assert "must not contain a user name or password" in html
    assert response.context["form"].errors["url"]
    assert not Source.objects.filter(name="inurl").exists()
    # The refused credential is not shown back in the form.
    assert "pw-in-the-url" not in html


def test_a_plain_http_source_is_allowed_and_shown_as_unencrypted(admin, db):
    source_create(name="internal", url="http://mlflow.internal:5000")
    source_create(name="tls", url="https://mlflow.example.gov")
    internal = _html(admin.get(reverse("tracking:source", args=["internal"])))
    tls = _html(admin.get(reverse("tracking:source", args=["tls"])))
    assert "unencrypted (http)" in internal
    assert "unencrypted (http)" not in tls
    assert "unencrypted (http)" in _html(admin.get(reverse("tracking:sources")))


def test_compliance_officer_cannot_add_a_source(officer, db):
    assert officer.get(reverse("tracking:source-add")).status_code == 403
    response = officer.post(
        reverse("tracking:source-add"), {"name": "x", "kind": "mlflow", "url": "https://x.gov"}
    )
    assert response.status_code == 403
    assert not Source.objects.exists()


# --------------------------------------------------------------------------- experiments and runs


def test_experiments_list_shows_run_counts_and_hides_deleted(reader, mirror: Mirror):
    Experiment.objects.create(
        source=mirror.source,
        experiment_id="9",
        name="old",
        lifecycle_stage="deleted",
        content_hash="x",
    )
    response = reader.get(reverse("tracking:experiments"))
    rows = {e.name: e for e in _records(response)}
    assert "old" not in rows
    assert rows["credit-scoring"].run_count == 7  # deleted and gone runs included
    response = reader.get(reverse("tracking:experiments"), {"lifecycle": "deleted"})
    assert [e.name for e in _records(response)] == ["old"]


def test_experiments_list_query_count_is_pinned(reader, mirror: Mirror, django_assert_num_queries):
    # session, user, COUNT, sources (filter), the page, permissions (2), session save (3).
    with django_assert_num_queries(9):
        reader.get(reverse("tracking:experiments"))


def test_runs_table_hides_deleted_and_gone_runs_by_default(reader, mirror: Mirror):
    names = _run_names(reader.get(reverse("tracking:runs")))
    assert "deleted run" not in names
    assert "gone run" not in names
    assert len(names) == 7


def test_runs_table_shows_deleted_runs_on_request_marked_as_such(reader, mirror: Mirror):
    response = reader.get(reverse("tracking:runs"), {"lifecycle": "all"})
    assert {"deleted run", "gone run"} <= set(_run_names(response))
    html = _html(response)
    assert '<tr class="govdash-row--deleted' in html or 'class="govdash-row--deleted' in html
    assert '<span class="usa-tag govdash-tag--deleted">Deleted</span>' in html
    assert '<span class="usa-tag govdash-tag--gone">Gone</span>' in html
    only = _run_names(reader.get(reverse("tracking:runs"), {"lifecycle": "deleted"}))
    assert sorted(only) == ["deleted run", "gone run"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"source": "gitlab-fraud"}, {"gitlab run"}),
        ({"status": "FAILED"}, set()),
        ({"classification": "SECRET"}, {"scoring run 1", "scoring run 3"}),
        ({"tag": "team=ops"}, {"scoring run 3", "scoring run 4"}),
        ({"tag": "team = risk"}, {"scoring run 0", "scoring run 1", "scoring run 2"}),
        ({"tag": "a__b"}, {f"run {SCRIPT}"}),
        ({"tag": "mlflow.user=ana"}, {f"scoring run {n}" for n in range(5)}),
        ({"q": "RUN 2"}, {"scoring run 2"}),
        ({"q": "ffffffff"}, {f"run {SCRIPT}"}),
        (
            {"q": "scoring", "classification": "official", "tag": "team=risk"},
            {"scoring run 0", "scoring run 2"},
        ),
    ],
)
def test_runs_table_filters(reader, mirror: Mirror, query, expected):
    assert set(_run_names(reader.get(reverse("tracking:runs"), query))) == expected


def test_runs_table_filters_by_experiment(reader, mirror: Mirror):
    response = reader.get(reverse("tracking:runs"), {"experiment": mirror.hostile_experiment.pk})
    assert _run_names(response) == [f"run {SCRIPT}"]


def test_runs_table_sorts_by_its_keyset_order_only(reader, mirror: Mirror):
    # Sorted by start time either way (the index's order, kernel.tables keyset tables);
    # a column the index cannot serve is not a sort link, and sorting by it shows the default.
    newest = _records(reader.get(reverse("tracking:runs")))
    oldest = _records(reader.get(reverse("tracking:runs"), {"sort": "start_time"}))
    assert [run.pk for run in oldest] == [run.pk for run in reversed(newest)]
    html = _html(reader.get(reverse("tracking:runs"), {"sort": "start_time"}))
    assert 'aria-sort="ascending"' in html
    by_name = reader.get(reverse("tracking:runs"), {"sort": "run_name"})
    assert [run.pk for run in _records(by_name)] == [run.pk for run in newest]
    assert "sort=run_name" not in _html(by_name)
    assert 'aria-sort="descending"' in _html(by_name)


def test_runs_table_paginates_fifty_a_page(reader, mirror: Mirror):
    for number in range(60):
        make_run(mirror.source, mirror.experiment, f"bulk-{number}", run_name=f"bulk {number}")
    first = reader.get(reverse("tracking:runs"))
    assert len(_run_names(first)) == 50
    page = first.context["table"].page
    assert not page.has_previous()
    assert page.has_next()
    assert 'aria-label="Next page"' in _html(first)
    second = reader.get(reverse("tracking:runs"), {"cursor": page.next_cursor})
    assert len(_run_names(second)) == 67 - 50
    assert not set(_run_names(second)) & set(_run_names(first))
    last = reader.get(reverse("tracking:runs"), {"cursor": "last"})
    assert _run_names(last) == (_run_names(first) + _run_names(second))[-50:]


def test_experiment_page_lists_only_its_own_runs(reader, mirror: Mirror):
    response = reader.get(reverse("tracking:experiment", args=[mirror.experiment.pk]))
    assert set(_run_names(response)) == {f"scoring run {n}" for n in range(5)}
    form = response.context["filter"].form
    assert "experiment" not in form.fields
    assert "source" not in form.fields
    assert "https://mlflow.example.gov/#/experiments/1" in _html(response)


def test_run_detail_shows_params_metrics_tags_versions_and_the_mlflow_link(reader, mirror: Mirror):
    run = mirror.runs[1]
    html = _html(reader.get(reverse("tracking:run", args=[run.pk])))
    assert '<th scope="row" class="govdash-wrap govdash-mono">lr</th>' in html
    assert "<td>0.9</td><td>3</td>" in html  # auc: value, step
    assert "mlflow.user" in html
    assert reverse("tracking:version", args=[mirror.model.pk, "2"]) in html
    assert "credit-model v2" in html
    assert f"https://mlflow.example.gov/#/experiments/1/runs/{run.run_id}" in html


def test_run_detail_cuts_long_values_short_with_a_show_all_disclosure(reader, mirror: Mirror):
    html = _html(reader.get(reverse("tracking:run", args=[mirror.hostile_run.pk])))
    assert "Show all 5000 characters" in html
    assert "Show all 6000 characters" in html
    assert "<details" in html
    # The whole value is there, once, inside the disclosure.
    assert html.count("é" + "x" * 4998 + "✓") == 1


def test_run_detail_marks_deleted_and_gone_runs(reader, mirror: Mirror):
    assert "<strong>Deleted:</strong>" in _html(
        reader.get(reverse("tracking:run", args=[mirror.deleted_run.pk]))
    )
    assert "<strong>Gone:</strong>" in _html(
        reader.get(reverse("tracking:run", args=[mirror.gone_run.pk]))
    )


def test_gitlab_run_links_to_the_project_page_only(reader, mirror: Mirror):
    gitlab_run = Run.objects.get(run_id="gl-1")
    html = _html(reader.get(reverse("tracking:run", args=[gitlab_run.pk])))
    assert 'href="https://gitlab.example.gov/projects/42"' in html
    assert "Open the GitLab project" in html


def test_synced_markup_is_escaped_on_every_page(reader, mirror: Mirror):
    pages = [
        reverse("tracking:runs"),
        reverse("tracking:runs") + "?lifecycle=all&sort=classification",
        reverse("tracking:experiments"),
        reverse("tracking:experiment", args=[mirror.hostile_experiment.pk]),
        reverse("tracking:run", args=[mirror.hostile_run.pk]),
    ]
    for url in pages:
        html = _html(reader.get(url))
        assert "<script>alert" not in html, url
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html, url


def test_model_and_version_names_are_escaped(reader, mirror: Mirror):
    model = RegisteredModel.objects.create(
        source=mirror.source,
        name=f"m {SCRIPT}",
        content_hash="x",
        description=SCRIPT,
        aliases={SCRIPT: "1"},
    )
    for url in (reverse("tracking:models"), reverse("tracking:model", args=[model.pk])):
        html = _html(reader.get(url))
        assert "<script>alert" not in html, url


# --------------------------------------------------------------------------- models


def test_models_list_shows_aliases_version_counts_and_open_alerts(reader, mirror: Mirror):
    response = reader.get(reverse("tracking:models"))
    (model,) = _records(response)
    assert (model.version_count, model.open_alerts) == (2, 1)
    html = _html(response)
    assert "production → v2" in html
    assert "1 open" in html


def test_models_list_query_count_is_pinned(reader, mirror: Mirror, django_assert_num_queries):
    for number in range(5):
        RegisteredModel.objects.create(
            source=mirror.source, name=f"model {number}", content_hash="x", aliases={"a": "1"}
        )
    # session, user, COUNT, sources (filter), the page, permissions (2), session save (3).
    with django_assert_num_queries(9):
        reader.get(reverse("tracking:models"))


def test_models_list_filters_to_models_with_open_alerts(reader, mirror: Mirror):
    RegisteredModel.objects.create(source=mirror.source, name="quiet", content_hash="x")
    response = reader.get(reverse("tracking:models"), {"alerts": "open"})
    assert [m.name for m in _records(response)] == ["credit-model"]


def test_model_detail_shows_versions_aliases_and_the_alias_history(reader, mirror: Mirror):
    response = reader.get(reverse("tracking:model", args=[mirror.model.pk]))
    html = _html(response)
    assert [v.version for v in _records(response, "versions")] == ["2", "1"]
    assert "<strong>production</strong> → " in html
    history = _records(response, "history")
    assert history == [mirror.alert, mirror.approved_change]
    # The unapproved move is highlighted, in colour and in words.
    assert 'class="govdash-row--alert' in html
    assert "Not approved in govdash" in html
    assert "Out-of-band promotion" in html


def test_version_detail_shows_its_run_and_alias_changes(reader, mirror: Mirror):
    html = _html(reader.get(reverse("tracking:version", args=[mirror.model.pk, "2"])))
    assert "credit-model version 2" in html
    assert mirror.runs[1].get_absolute_url() in html
    assert "Current aliases</dt><dd>production" in html
    assert "https://mlflow.example.gov/#/models/credit-model/versions/2" in html
    assert "Not approved in govdash" in html


def test_unknown_version_is_404(reader, mirror: Mirror):
    assert reader.get(reverse("tracking:version", args=[mirror.model.pk, "99"])).status_code == 404


# --------------------------------------------------------------------------- alerts


def test_every_signed_in_user_sees_open_alerts_on_the_overview(reader, mirror: Mirror):
    html = _html(reader.get(reverse("home")))
    assert "Out-of-band promotions: 1 open alert" in html
    assert mirror.model.get_absolute_url() in html
    assert "moved 1 → <strong>2</strong>" in html
    assert 'Acknowledge<span class="usa-sr-only">' not in html  # not theirs to acknowledge


def test_compliance_officer_acknowledges_an_alert(officer, mirror: Mirror):
    html = _html(officer.get(reverse("home")))
    assert 'Acknowledge<span class="usa-sr-only">' in html
    response = officer.post(
        reverse("tracking:alert-acknowledge", args=[mirror.alert.pk]), {"next": "/"}, follow=True
    )
    html = _html(response)
    assert "Alert acknowledged" in html
    assert "Out-of-band promotions" not in html
    mirror.alert.refresh_from_db()
    assert mirror.alert.acknowledged_by.username == "olivia"
    event = AuditEvent.objects.get(action="tracking.alert_acknowledge")
    assert (event.target_type, event.target_id) == ("tracking.aliaschange", str(mirror.alert.pk))
    assert event.data["to_version"] == "2"


def test_reader_cannot_acknowledge_an_alert(reader, mirror: Mirror):
    response = reader.post(reverse("tracking:alert-acknowledge", args=[mirror.alert.pk]))
    assert response.status_code == 403
    assert AliasChange.objects.open_alerts().count() == 1


def test_an_alert_is_acknowledged_once(mirror: Mirror, make_user):
    first = make_user("olivia", "compliance-officer")
    second = make_user("oscar", "admin")
    stale = AliasChange.objects.get(pk=mirror.alert.pk)  # loaded before the first click
    alert_acknowledge(change=mirror.alert, actor=first)
    with pytest.raises(AlertAlreadyAcknowledged):
        alert_acknowledge(change=stale, actor=second)
    stale.refresh_from_db()
    assert stale.acknowledged_by == first
    assert AuditEvent.objects.filter(action="tracking.alert_acknowledge").count() == 1


def test_an_approved_alias_change_is_not_an_alert_to_acknowledge(officer, mirror: Mirror):
    response = officer.post(
        reverse("tracking:alert-acknowledge", args=[mirror.approved_change.pk]), follow=True
    )
    assert "there is no alert to acknowledge" in _html(response)
    assert not AuditEvent.objects.filter(action="tracking.alert_acknowledge").exists()


# --------------------------------------------------------------------------- navigation


def test_navigation_marks_runs_as_part_of_experiments(reader, mirror: Mirror):
    html = _html(reader.get(reverse("tracking:runs")))
    assert (
        f'href="{reverse("tracking:experiments")}" class="usa-nav-link usa-current" '
        'aria-current="page"'
    ) in html
    assert f'href="{reverse("tracking:sources")}"' in html


def test_detail_pages_do_not_query_per_row(reader, mirror: Mirror, make_user):
    """Sync history, versions and alias history: a fixed number of queries however long."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tracking.models import ModelVersion

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as context:
            assert reader.get(url).status_code == 200
        return len(context.captured_queries)

    urls = {
        "source": reverse("tracking:source", args=["risk"]),
        "model": reverse("tracking:model", args=[mirror.model.pk]),
        "run": reverse("tracking:run", args=[mirror.runs[1].pk]),
        "version": reverse("tracking:version", args=[mirror.model.pk, "2"]),
    }
    before = {name: count(url) for name, url in urls.items()}
    requester = make_user("someone", "admin")
    for number in range(10):
        sync_run = SyncRun.objects.create(
            source=mirror.source, status="failed", requested_by=requester
        )
        ModelVersion.objects.create(
            model=mirror.model, version=str(10 + number), content_hash="x", run=mirror.runs[1]
        )
        AliasChange.objects.create(
            model=mirror.model,
            alias="production",
            from_version="2",
            to_version=str(10 + number),
            unapproved=True,
            sync_run=sync_run,
            acknowledged_by=requester if number % 2 else None,
            acknowledged_at=sync_run.created_at if number % 2 else None,
        )
    after = {name: count(url) for name, url in urls.items()}
    assert after == before
    # The run page includes the compliance panel (3 queries of its own), the version
    # page the promotions panel (2: the version's requests, the environments).
    assert before == {"source": 14, "model": 13, "run": 11, "version": 10}


def _body_rows(html: str) -> dict[str, list[str]]:
    """The runs table's body: each row's cells (their inner HTML), by the row's class
    attribute and first cell's link text."""
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    rows = {}
    for attrs, inner in re.findall(r"<tr ([^>]*)>(.*?)</tr>", body, flags=re.S):
        cells = [cell.strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", inner, flags=re.S)]
        name = re.sub(r"<[^>]+>", "", cells[0])
        rows[name] = [attrs.strip(), *cells]
    return rows


def test_runs_table_rows_render_every_cell_escaped(reader, mirror: Mirror):
    # The rows are rendered by the table's cell_* functions (kernel.tables.PlainRowsTable),
    # not django-tables2's per-cell machinery: pinned here cell by cell.
    html = _html(reader.get(reverse("tracking:runs"), {"lifecycle": "all"}))
    headers = re.findall(r'<th scope="col"', html)
    rows = _body_rows(html)
    hostile = mirror.hostile_run
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    assert rows[f"run {escaped}"][0] in ('class="odd"', 'class="even"')
    assert rows[f"run {escaped}"][1:] == [
        f'<a href="/tracking/runs/{hostile.pk}/">run {escaped}</a>',
        f'<a href="/tracking/experiments/{hostile.experiment_id}/">exp {escaped}</a>',
        mirror.source.name,
        "FINISHED",
        "active",
        escaped,
        "—",
        hostile.start_time.strftime("%Y-%m-%d %H:%M"),
        "ffffffff…",
    ]
    assert rows["deleted run"][0].startswith('class="govdash-row--deleted ')
    assert rows["deleted run"][5] == '<span class="usa-tag govdash-tag--deleted">Deleted</span>'
    assert rows["gone run"][0].startswith('class="govdash-row--deleted ')
    assert rows["gone run"][5] == '<span class="usa-tag govdash-tag--gone">Gone</span>'
    assert rows["scoring run 1"][7] == "ana"
    assert all(len(cells) == len(headers) + 1 for cells in rows.values())

    # An experiment's page leaves out the experiment and source columns, headers and cells.
    html = _html(reader.get(reverse("tracking:experiment", args=[mirror.experiment.pk])))
    rows = _body_rows(html)
    assert rows["scoring run 1"][1:] == [
        f'<a href="/tracking/runs/{mirror.runs[1].pk}/">scoring run 1</a>',
        "FINISHED",
        "active",
        "secret",
        "ana",
        mirror.runs[1].start_time.strftime("%Y-%m-%d %H:%M"),
        f"{mirror.runs[1].run_id[:8]}…",
    ]
    assert len(re.findall(r'<th scope="col"', html)) == 7
