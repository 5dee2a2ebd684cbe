"""Policy pages: read by all, edited, imported and published by compliance officers."""

from __future__ import annotations

import pytest
import yaml
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from reports.models import AssessmentBatch, AssessmentRequest, Policy, PolicyVersion
from reports.services import policy_export_yaml
from tests import factories
from tests.reports_pages.conftest import SCRIPT

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(client: Client, make_user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(make_user("olivia", "compliance-officer"))
    return client


@pytest.fixture
def reviewer(client: Client, make_user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(make_user("rita", "reviewer"))
    return client


def _text(version: PolicyVersion) -> str:
    return policy_export_yaml(version)


def _messages(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(m) for m in get_messages(response.wsgi_request)]


def _edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


# --------------------------------------------------------------------------- reading


def test_policy_list_shows_the_version_in_force(reviewer: Client, default_policy):  # type: ignore[no-untyped-def]
    response = reviewer.get(reverse("reports:policies"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Default ML governance baseline" in html
    assert "v1, published" in html
    assert "Import a policy" not in html  # not for reviewers


def test_policy_detail_explains_every_rule_and_lists_versions(reviewer: Client, default_policy):  # type: ignore[no-untyped-def]
    response = reviewer.get(reverse("reports:policy", args=["default"]))
    assert response.status_code == 200
    html = response.content.decode()
    for rule in default_policy.rules:
        assert f'data-rule="{rule["id"]}"' in html
        assert rule["title"] in html
    assert "must be one of: public, official, secret" in html
    assert "Runs older than 1,095 days must be deleted" in html
    assert "Published, in force" in html
    assert "Edit as YAML" not in html
    assert "Publish v" not in html


def test_policy_detail_shows_a_chosen_version_and_who_made_it(officer: Client, default_policy):  # type: ignore[no-untyped-def]
    text = _edit(_text(default_policy), "days: 1095", "days: 400")
    officer.post(
        reverse("reports:policy-edit", args=["default"]), {"text": text, "notes": "shorter"}
    )
    html = officer.get(reverse("reports:policy", args=["default"]), {"version": 2}).content.decode()
    assert "Rules of v2 (draft)" in html
    assert "Runs older than 400 days" in html
    assert "by olivia" in html
    assert "shorter" in html
    assert "Publish v2" in html


def test_unknown_policy_is_404(reviewer: Client, default_policy):  # type: ignore[no-untyped-def]
    assert reviewer.get(reverse("reports:policy", args=["nope"])).status_code == 404


def test_policy_text_is_escaped(reviewer: Client, default_policy):  # type: ignore[no-untyped-def]
    from reports.services import policy_save_draft

    text = _edit(_text(default_policy), "name: Default ML governance baseline", f'name: "{SCRIPT}"')
    text = _edit(text, "title: Training data classification is recorded", f'title: "{SCRIPT}"')
    policy_save_draft(text=text, actor=None)
    for url in (
        reverse("reports:policies"),
        reverse("reports:policy", args=["default"]) + "?version=2",
        reverse("reports:dashboard"),
    ):
        html = reviewer.get(url).content.decode()
        assert SCRIPT not in html, url
        assert "&lt;script&gt;" in html, url


# --------------------------------------------------------------------------- permissions


@pytest.mark.parametrize(
    ("method", "name", "args"),
    [
        ("get", "reports:policy-edit", ["default"]),
        ("post", "reports:policy-edit", ["default"]),
        ("get", "reports:policy-import", []),
        ("post", "reports:policy-import", []),
        ("post", "reports:policy-publish", ["default", 1]),
        ("post", "reports:assess", []),
    ],
)
@pytest.mark.parametrize("role", ["reviewer", "auditor", "ml-engineer"])
def test_write_actions_are_refused_to_other_roles(
    client: Client, make_user, default_policy, method, name, args, role
):  # type: ignore[no-untyped-def]
    client.force_login(make_user("someone", role))
    response = getattr(client, method)(reverse(name, args=args), {"text": "x"})
    assert response.status_code == 403
    assert (
        not AuditEvent.objects.filter(actor_username="someone")
        .exclude(action__startswith="auth.")
        .exists()
    )
    assert PolicyVersion.objects.filter(policy__slug="default").count() == 1


def test_admin_may_edit(client: Client, make_user, default_policy):  # type: ignore[no-untyped-def]
    client.force_login(make_user("ada", "admin"))
    assert client.get(reverse("reports:policy-edit", args=["default"])).status_code == 200


# --------------------------------------------------------------------------- editing


def test_edit_saves_a_draft_and_audits_it(officer: Client, default_policy):  # type: ignore[no-untyped-def]
    page = officer.get(reverse("reports:policy-edit", args=["default"]))
    assert "kind: tag_in" in page.content.decode()
    text = _edit(_text(default_policy), "days: 1095", "days: 730")
    response = officer.post(
        reverse("reports:policy-edit", args=["default"]), {"text": text, "notes": "two years"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith("?version=2")
    draft = PolicyVersion.objects.get(policy__slug="default", number=2)
    assert not draft.is_published
    assert draft.rules[-1]["check"]["days"] == 730
    assert draft.created_by.username == "olivia"
    assert AuditEvent.objects.filter(action="policy.draft", actor_username="olivia").exists()


def test_a_bad_rule_names_the_field_and_keeps_the_text(officer: Client, default_policy):  # type: ignore[no-untyped-def]
    text = _edit(_text(default_policy), "severity: medium", "severity: urgent")
    response = officer.post(reverse("reports:policy-edit", args=["default"]), {"text": text})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-field="rules[1].severity"' in html
    assert "rules[1].severity: must be one of low, medium, high, critical" in html
    assert "severity: urgent" in html  # the user's text, not the stored version
    assert response.context["form"]["text"].value() == text
    assert not PolicyVersion.objects.filter(number=2).exists()


def test_a_bad_check_field_is_named(officer: Client, default_policy):  # type: ignore[no-untyped-def]
    text = _edit(_text(default_policy), "days: 1095", "days: -5")
    html = officer.post(
        reverse("reports:policy-edit", args=["default"]), {"text": text}
    ).content.decode()
    assert "rules[4].check.days: must be greater than 0" in html


def test_invalid_yaml_names_the_line(officer: Client, default_policy):  # type: ignore[no-untyped-def]
    text = "name: x\nrules: [\n  - id: a\n"
    html = officer.post(
        reverse("reports:policy-edit", args=["default"]), {"text": text}
    ).content.decode()
    assert "is not valid YAML" in html
    assert "line " in html
    assert "rules: [" in html


def test_edit_cannot_change_the_slug(officer: Client, default_policy):  # type: ignore[no-untyped-def]
    text = _edit(_text(default_policy), "slug: default", "slug: another")
    html = officer.post(
        reverse("reports:policy-edit", args=["default"]), {"text": text}
    ).content.decode()
    assert 'data-field="slug"' in html
    assert not Policy.objects.filter(slug="another").exists()


# --------------------------------------------------------------------------- import and export


def test_import_a_file_creates_a_draft_policy(officer: Client, default_policy):  # type: ignore[no-untyped-def]
    text = _edit(_text(default_policy), "slug: default", "slug: strict")
    text = _edit(text, "name: Default ML governance baseline", "name: Strict")
    upload = SimpleUploadedFile("strict.yaml", text.encode(), content_type="application/x-yaml")
    response = officer.post(reverse("reports:policy-import"), {"file": upload})
    assert response.status_code == 302
    version = PolicyVersion.objects.get(policy__slug="strict")
    assert (version.number, version.is_published) == (1, False)
    assert response["Location"] == reverse("reports:policy", args=["strict"]) + "?version=1"


def test_a_bad_import_names_the_field_and_shows_the_file_text(officer: Client, default_policy):  # type: ignore[no-untyped-def]
    text = _edit(_text(default_policy), "kind: owner_tag", "kind: owner_tags")
    upload = SimpleUploadedFile("bad.yaml", text.encode())
    response = officer.post(reverse("reports:policy-import"), {"file": upload})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-field="rules[2].check.kind"' in html
    assert "kind: owner_tags" in html


def test_import_needs_a_file_or_text(officer: Client, default_policy):  # type: ignore[no-untyped-def]
    response = officer.post(reverse("reports:policy-import"), {})
    assert response.status_code == 200
    assert "Choose a YAML file or paste the policy." in response.content.decode()


def test_export_downloads_the_version_as_yaml(reviewer: Client, default_policy):  # type: ignore[no-untyped-def]
    response = reviewer.get(reverse("reports:policy-export", args=["default", 1]))
    assert response.status_code == 200
    assert 'filename="default-v1.yaml"' in response["Content-Disposition"]
    document = yaml.safe_load(response.content)
    assert document["version"] == 1
    assert document["rules"] == default_policy.rules
    assert AuditEvent.objects.filter(action="policy.export", actor_username="rita").exists()


# --------------------------------------------------------------------------- publishing


def _draft(officer: Client, default_policy) -> PolicyVersion:  # type: ignore[no-untyped-def]
    text = _edit(_text(default_policy), "days: 1095", "days: 30")
    officer.post(reverse("reports:policy-edit", args=["default"]), {"text": text})
    return PolicyVersion.objects.get(policy__slug="default", number=2)


@pytest.mark.redis
def test_publish_queues_reassessment_on_the_real_queue(
    officer: Client, default_policy, redis_queue
):  # type: ignore[no-untyped-def]
    queue = redis_queue("assess")
    runs = [factories.run() for _ in range(3)]
    draft = _draft(officer, default_policy)
    response = officer.post(reverse("reports:policy-publish", args=["default", 2]))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.is_published
    assert draft.published_by.username == "olivia"
    request = AssessmentRequest.objects.get(policy_version=draft)
    assert request.reason == "policy v2 published"
    assert request.total == len(runs)
    batches = list(AssessmentBatch.objects.filter(request=request))
    assert queue.count == len(batches) >= 1
    assert {job.args[0] for job in queue.get_jobs()} == {b.pk for b in batches}
    assert any("Re-assessment of 3 runs queued" in m for m in _messages(response))
    assert AuditEvent.objects.filter(action="policy.publish", actor_username="olivia").exists()


def test_publish_with_the_queue_down_warns_but_publishes(officer: Client, default_policy, settings):  # type: ignore[no-untyped-def]
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    factories.run()
    _draft(officer, default_policy)
    response = officer.post(reverse("reports:policy-publish", args=["default", 2]), follow=True)
    assert PolicyVersion.objects.get(policy__slug="default", number=2).is_published
    html = response.content.decode()
    assert (
        "Published v2 of Default ML governance baseline, but re-assessment could not be queued: "
        "the job queue cannot be reached" in html
    )
    assert "usa-alert--warning" in html


def test_publishing_twice_is_refused_with_a_message(officer: Client, default_policy):  # type: ignore[no-untyped-def]
    response = officer.post(reverse("reports:policy-publish", args=["default", 1]), follow=True)
    assert "v1 is already published" in response.content.decode()
