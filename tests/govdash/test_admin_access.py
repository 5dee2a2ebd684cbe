"""The admin site for signed-in users: staff get in, everyone else gets a 403.

The admin sends a signed-in user who is not staff to its login URL, which
forwards to the one login page, which sends a signed-in user back: a redirect
loop, until the admin's login answered 403 to them.
"""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_signed_in_user_who_is_not_staff_gets_a_403_not_a_redirect_loop(client: Client, make_user):
    client.force_login(make_user("eli", "admin"))
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert [url for url, _ in response.redirect_chain] == ["/admin/login/?next=/admin/"]
    assert client.get("/admin/login/").status_code == 403


def test_staff_still_reach_the_admin(client: Client, make_user):
    staff = make_user("sam")
    staff.is_staff = True  # type: ignore[attr-defined]
    staff.save()  # type: ignore[attr-defined]
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200
    response = client.get("/admin/login/")
    assert (response.status_code, response.headers["Location"]) == (302, "/admin/")


def test_anonymous_user_is_still_sent_to_the_one_login_page(client: Client):
    response = client.get("/admin/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/accounts/login/?next=/admin/"
