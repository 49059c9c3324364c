"""The admin login is protected against password guessing (django-axes): failures from one
address lock it out, even for the right password, until the cool-off ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
URL = "/admin/login/?next=/admin/"


@pytest.fixture
def staff(user_factory):
    return user_factory(username="boss", is_staff=True, is_superuser=True)


def admin_login(password: str, address: str = "203.0.113.7"):
    client = Client(REMOTE_ADDR=address)
    response = client.post(URL, {"username": "boss", "password": password})
    return response, client


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def test_the_right_password_logs_in(staff):
    response, client = admin_login(PASSWORD)
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert logged_in(client)


def test_thirty_wrong_passwords_then_the_right_one_does_not_log_in(staff):
    # given: thirty wrong guesses from one address
    answers = [admin_login(f"guess-{n}")[0].status_code for n in range(30)]
    # then: the first four are the login form again, from the fifth on the address is locked out
    assert answers == [200] * 4 + [429] * 26
    # when: the right password
    response, client = admin_login(PASSWORD)
    # then: refused as well
    assert response.status_code == 429
    assert not logged_in(client)
    assert AccessAttempt.objects.get().failures_since_start == 31


def test_fewer_failures_than_the_limit_then_success_resets_the_count(staff):
    for n in range(4):
        admin_login(f"guess-{n}")
    response, client = admin_login(PASSWORD)
    assert response.status_code == 302 and logged_in(client)
    assert AccessAttempt.objects.count() == 0
    assert [admin_login(f"again-{n}")[0].status_code for n in range(5)] == [200] * 4 + [429]


def test_another_address_is_not_locked_out(staff):
    for n in range(5):
        admin_login(f"guess-{n}")
    response, client = admin_login(PASSWORD, address="198.51.100.9")
    assert response.status_code == 302 and logged_in(client)


def test_the_lockout_ends_after_the_cool_off(staff):
    for n in range(5):
        admin_login(f"guess-{n}")
    assert admin_login(PASSWORD)[0].status_code == 429
    # when: 15 minutes have passed since the failures
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16))
    # then
    response, client = admin_login(PASSWORD)
    assert response.status_code == 302 and logged_in(client)


def test_api_login_failures_count_toward_the_admin_lockout_but_the_api_keeps_its_own_rules(staff):
    # given: five wrong passwords through the API from one address
    api = APIClient(REMOTE_ADDR="203.0.113.7")
    for n in range(5):
        response = api.post("/api/auth/token", {"username": "boss", "password": f"guess-{n}"}, format="json")
        assert response.status_code == 401
    # then: the address cannot try the admin any more (guessing moved to the API gains nothing)
    assert admin_login(PASSWORD)[0].status_code == 429
    # while the API login answers by its own rules (its rate throttle), not axes' lockout
    response = api.post("/api/auth/token", {"username": "boss", "password": PASSWORD}, format="json")
    assert response.status_code == 200
