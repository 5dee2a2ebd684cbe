"""Hostile policy documents on the edit and import pages: refused with the
field or the limit named and the user's text kept; never a server error."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from reports.models import PolicyVersion

pytestmark = pytest.mark.django_db

POLICY = """\
slug: default
name: Default ML governance baseline
rules:
  - id: a
    title: T
    severity: low
    check:
      kind: metric_threshold
      key: accuracy
      op: ">="
      value: {value}
"""

CASES = {
    "nested 10,000 deep": (
        POLICY.format(value="[" * 10_000 + "]" * 10_000),
        "line 11",
        "nests deeper than 20 levels, the limit",
    ),
    "10**400": (
        POLICY.format(value=10**400),
        "rules[0].check.value",
        "is out of range: it must be a number between -10^15 and 10^15",
    ),
    "infinity": (
        POLICY.format(value="1.0e+400"),
        "rules[0].check.value",
        "is out of range: it must be a number between -10^15 and 10^15",
    ),
    # Fewer characters than the form's limit, more bytes than the policy's.
    "over 256 KiB of UTF-8": (
        POLICY.format(value=1) + "# " + "€" * 100_000 + "\n",
        "document",
        "bytes, larger than the limit of 256 KiB",
    ),
}


@pytest.fixture
def officer(client: Client, make_user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(make_user("olivia", "compliance-officer"))
    return client


def _post(officer: Client, page: str, text: str):  # type: ignore[no-untyped-def]
    if page == "edit":
        return officer.post(reverse("reports:policy-edit", args=["default"]), {"text": text})
    return officer.post(reverse("reports:policy-import"), {"text": text})


@pytest.mark.parametrize("page", ["edit", "import"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_policy_is_refused_naming_the_field_and_keeping_the_text(
    officer: Client, default_policy, page: str, case: str
):  # type: ignore[no-untyped-def]
    text, field, message = CASES[case]
    response = _post(officer, page, text)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-field="{field}"' in html
    assert message in html
    assert response.context["form"]["text"].value() == text
    assert not PolicyVersion.objects.filter(number=2).exists()
    assert PolicyVersion.objects.count() == 1


@pytest.mark.parametrize("page", ["edit", "import"])
def test_a_multi_megabyte_policy_is_refused_naming_the_limit(
    officer: Client, default_policy, page: str
):  # type: ignore[no-untyped-def]
    text = POLICY.format(value=1) + "# " + "x" * (2 * 1024 * 1024) + "\n"
    response = _post(officer, page, text)
    assert response.status_code == 200
    assert "at most 262144 characters" in response.content.decode()
    assert PolicyVersion.objects.count() == 1


def test_a_multi_megabyte_file_is_refused_naming_the_limit(officer: Client, default_policy):  # type: ignore[no-untyped-def]
    data = (POLICY.format(value=1) + "# " + "x" * (3 * 1024 * 1024) + "\n").encode()
    upload = SimpleUploadedFile("big.yaml", data, content_type="application/x-yaml")
    response = officer.post(reverse("reports:policy-import"), {"file": upload})
    assert response.status_code == 200
    assert "The file is larger than 256 KiB." in response.content.decode()
    assert PolicyVersion.objects.count() == 1


def test_a_deeply_nested_file_is_refused_naming_the_limit(officer: Client, default_policy):  # type: ignore[no-untyped-def]
    text = POLICY.format(value="{a: " * 10_000 + "1" + "}" * 10_000)
    upload = SimpleUploadedFile("deep.yaml", text.encode(), content_type="application/x-yaml")
    response = officer.post(reverse("reports:policy-import"), {"file": upload})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-field="line 11"' in html
    assert response.context["form"]["text"].value() == text
