"""POST /api/auth/register."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.accounts.conftest import iso, snapshot

pytestmark = pytest.mark.django_db

URL = "/api/auth/register"
User = get_user_model()


def body(**overrides):
    data = {"username": "new_user", "email": "New.User@Example.ORG", "password": "plum-tiger-lantern-42"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def test_register_returns_the_user_object(api_client):
    # when
    response = api_client.post(URL, body(display_name="New User"), format="json")
    # then
    user = User.objects.get()
    assert response.status_code == 201
    assert response.json() == {
        "id": user.pk,
        "username": "new_user",
        "display_name": "New User",
        "bio": "",
        "date_joined": iso(user.date_joined),
    }
    assert (user.email, user.is_active) == ("New.User@example.org", True)
    assert user.check_password("plum-tiger-lantern-42")
    assert user.password != "plum-tiger-lantern-42"


def test_registered_user_can_log_in(api_client):
    # given
    api_client.post(URL, body(), format="json")
    # when
    response = api_client.post("/api/auth/token", {"username": "new_user", "password": "plum-tiger-lantern-42"},
                               format="json")
    # then
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}


def test_display_name_is_optional(api_client):
    response = api_client.post(URL, body(), format="json")
    assert response.status_code == 201
    assert response.json()["display_name"] == ""


def test_a_bearer_header_does_not_matter(api_client):
    # given: a stale token from an old session
    api_client.credentials(HTTP_AUTHORIZATION="Bearer garbage")
    # when
    response = api_client.post(URL, body(), format="json")
    # then
    assert response.status_code == 201


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"username": "ab"}, "username"),
        ({"username": "a" * 31}, "username"),
        ({"username": "with space"}, "username"),
        ({"username": "dash-name"}, "username"),
        ({"username": "émile"}, "username"),
        ({"username": "newline\n"}, "username"),
        ({"username": 12345}, "username"),
        ({"username": None}, "username"),
        ({"username": ...}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"email": ["a@example.org"]}, "email"),
        ({"email": ...}, "email"),
        ({"password": "short1"}, "password"),
        ({"password": "password123"}, "password"),
        ({"password": "8495027364918"}, "password"),
        ({"password": "new_user_1"}, "password"),
        ({"password": 123456789012}, "password"),
        ({"password": ...}, "password"),
        ({"display_name": "x" * 101}, "display_name"),
        ({"display_name": 7}, "display_name"),
    ],
)
def test_invalid_input_is_400_and_creates_nothing(api_client, overrides, field):
    # given
    before = snapshot()
    # when
    response = api_client.post(URL, body(**overrides), format="json")
    # then
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert snapshot() == before


def test_username_taken_case_insensitively(api_client, user_factory):
    # given
    user_factory(username="Alice")
    before = snapshot()
    # when
    response = api_client.post(URL, body(username="aLICE"), format="json")
    # then
    assert response.status_code == 400
    assert response.json() == {"username": ["This username is already taken."]}
    assert snapshot() == before


def test_email_taken_case_insensitively(api_client, user_factory):
    # given
    user_factory(username="alice", email="alice@example.org")
    before = snapshot()
    # when
    response = api_client.post(URL, body(email="ALICE@Example.org"), format="json")
    # then
    assert response.status_code == 400
    assert response.json() == {"email": ["An account with this e-mail already exists."]}
    assert snapshot() == before


def test_missing_everything_lists_every_field(api_client):
    response = api_client.post(URL, {}, format="json")
    assert response.status_code == 400
    assert sorted(response.json()) == ["email", "password", "username"]


@pytest.mark.parametrize("payload", ['{"username": ', "[]", '"text"', "null"])
def test_malformed_or_non_object_json_is_400(api_client, payload):
    # given
    before = snapshot()
    # when
    response = api_client.post(URL, payload, content_type="application/json")
    # then
    assert response.status_code == 400
    assert snapshot() == before


def test_service_maps_a_raced_duplicate_to_400(user_factory):
    # given: the serializer's check passed, then someone took the e-mail (the constraint decides)
    from rest_framework.exceptions import ValidationError

    from bellamy.accounts import services

    user_factory(username="alice", email="alice@example.org")
    # when
    with pytest.raises(ValidationError) as info:
        services.user_register(username="other", email="Alice@EXAMPLE.org", password="x")
    # then
    assert info.value.detail == {"email": ["An account with this e-mail already exists."]}
    assert User.objects.count() == 1


def test_register_is_throttled(api_client, tight_throttles):
    # given: two registrations within the rate
    for n in range(2):
        assert api_client.post(URL, body(username=f"user_{n}", email=f"u{n}@example.org"), format="json").status_code == 201
    before = snapshot()
    # when
    response = api_client.post(URL, body(username="user_3", email="u3@example.org"), format="json")
    # then
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert snapshot() == before
