"""The seed route POST /api/Post/users/{userId}: the 201/401/403/400 matrix and bad inputs."""

from datetime import timedelta

import jwt
import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from tests.posts.helpers import outbox, row_counts

pytestmark = pytest.mark.django_db

NOTHING_WRITTEN = {
    "posts": 0, "hashtags": 0, "post_hashtags": 0, "post_mentions": 0,
    "likes": 0, "comments": 0, "reports": 0, "events": 0,
}


def url(user_id):
    return f"/api/Post/users/{user_id}"


def test_create_post_201_returns_the_post_object(user_factory, client_for):
    # given a signed-in author and a user to mention
    author = user_factory(username="writer", display_name="The Writer", bio="hi")
    bob = user_factory(username="bob")
    # when they post
    response = client_for(author).post(
        url(author.id), {"content": "  Hello #World @Bob  ", "visibility": "friends"}, format="json"
    )
    # then 201 with the exact post object
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id", "author", "content", "visibility", "hashtags", "mentions", "created_at",
        "edited_at", "like_count", "comment_count", "liked_by_me", "score",
    }
    assert body["author"] == {
        "id": author.id, "username": "writer", "display_name": "The Writer", "bio": "hi",
        "date_joined": author.date_joined.isoformat().replace("+00:00", "Z"),
    }
    assert body["content"] == "Hello #World @Bob"
    assert body["visibility"] == "friends"
    assert body["hashtags"] == ["world"]
    assert [m["id"] for m in body["mentions"]] == [bob.id]
    assert set(body["mentions"][0]) == {"id", "username", "display_name", "bio", "date_joined"}
    assert body["created_at"].endswith("Z")
    assert (body["edited_at"], body["like_count"], body["comment_count"], body["liked_by_me"], body["score"]) == (
        None, 0, 0, False, None,
    )
    # and exactly one post.created event
    assert [t for t, _ in outbox()] == ["post.created"]
    assert outbox()[0][1]["post_id"] == body["id"]


def test_visibility_defaults_to_public(user_factory, client_for):
    author = user_factory()
    response = client_for(author).post(url(author.id), {"content": "x"}, format="json")
    assert (response.status_code, response.json()["visibility"]) == (201, "public")


def test_content_of_exactly_5000_characters_is_accepted(user_factory, client_for):
    author = user_factory()
    response = client_for(author).post(url(author.id), {"content": "a" * 5000}, format="json")
    assert response.status_code == 201
    assert len(response.json()["content"]) == 5000


def test_5000_characters_plus_surrounding_whitespace_is_accepted(user_factory, client_for):
    author = user_factory()
    response = client_for(author).post(url(author.id), {"content": "  " + "a" * 5000 + "\n"}, format="json")
    assert response.status_code == 201


def test_401_without_token_writes_nothing(user_factory, api_client):
    # given no token / when posting / then 401 with the error shape and nothing written
    author = user_factory()
    response = api_client.post(url(author.id), {"content": "hi"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert row_counts() == NOTHING_WRITTEN


def _expired_token(user):
    token = AccessToken.for_user(user)
    token.set_exp(from_time=timezone.now() - timedelta(hours=2), lifetime=timedelta(minutes=1))
    return str(token)


def _other_signature_token(user):
    payload = dict(AccessToken.for_user(user).payload)
    return jwt.encode(payload, "another-secret-key-0123456789abcdef0123", algorithm="HS256")


@pytest.mark.parametrize(
    "make_header",
    [
        lambda u: f"Bearer {_expired_token(u)}",
        lambda u: "Bearer garbage.not.a.jwt",
        lambda u: f"Bearer {_other_signature_token(u)}",
        lambda u: f"Token {AccessToken.for_user(u)}",
        lambda u: "Bearer",
    ],
    ids=["expired", "garbage", "other-signature", "wrong-scheme", "empty-bearer"],
)
def test_401_for_bad_tokens_writes_nothing(user_factory, make_header):
    # given a request with a bad Authorization header
    author = user_factory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=make_header(author))
    # when posting / then 401 and nothing written
    response = client.post(url(author.id), {"content": "hi"}, format="json")
    assert response.status_code == 401
    assert "detail" in response.json()
    assert row_counts() == NOTHING_WRITTEN


def test_401_comes_before_403_and_400(user_factory, api_client):
    # given no token, somebody else's id and a bad body / then 401
    other = user_factory()
    response = api_client.post(url(other.id), "{bad json", content_type="application/json")
    assert response.status_code == 401


def test_403_when_user_id_is_not_the_caller(user_factory, client_for):
    # given a caller posting as somebody else
    caller, other = user_factory(), user_factory()
    # when posting / then 403 permission_denied and nothing written
    response = client_for(caller).post(url(other.id), {"content": "hi"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "You can only create posts as yourself.", "code": "permission_denied"}
    assert row_counts() == NOTHING_WRITTEN


def test_403_for_unknown_user_id(user_factory, client_for):
    caller = user_factory()
    response = client_for(caller).post(url(10**9), {"content": "hi"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_403_comes_before_400(user_factory, client_for):
    caller, other = user_factory(), user_factory()
    response = client_for(caller).post(url(other.id), "{bad json", content_type="application/json")
    assert response.status_code == 403
    assert row_counts() == NOTHING_WRITTEN


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "content", "This field is required."),
        ({"content": ""}, "content", "This field may not be blank."),
        ({"content": "   \n\t "}, "content", "This field may not be blank."),
        ({"content": "a" * 5001}, "content", "Ensure this field has no more than 5000 characters."),
        ({"content": " " + "a" * 5001 + " "}, "content", "Ensure this field has no more than 5000 characters."),
        ({"content": None}, "content", "This field may not be null."),
        ({"content": 123}, "content", "Not a valid string."),
        ({"content": True}, "content", "Not a valid string."),
        ({"content": ["hi"]}, "content", "Not a valid string."),
        ({"content": {"a": 1}}, "content", "Not a valid string."),
        ({"content": "nul\x00byte"}, "content", "Null characters are not allowed."),
        ({"content": "hi", "visibility": "everyone"}, "visibility", '"everyone" is not a valid choice.'),
        ({"content": "hi", "visibility": "PUBLIC"}, "visibility", '"PUBLIC" is not a valid choice.'),
        ({"content": "hi", "visibility": ""}, "visibility", '"" is not a valid choice.'),
        ({"content": "hi", "visibility": None}, "visibility", "This field may not be null."),
        ({"content": "hi", "visibility": 1}, "visibility", '"1" is not a valid choice.'),
    ],
)
def test_400_bad_body_writes_nothing(user_factory, client_for, body, field, message):
    # given a valid caller and an invalid body
    author = user_factory()
    # when posting / then 400 naming the field and nothing written
    response = client_for(author).post(url(author.id), body, format="json")
    assert response.status_code == 400
    assert response.json() == {field: [message]}
    assert row_counts() == NOTHING_WRITTEN


@pytest.mark.parametrize(
    "raw",
    ["{bad json", "", "null", "[1, 2]", '"just a string"', "42"],
    ids=["malformed", "empty", "null", "list", "string", "number"],
)
def test_400_for_malformed_or_non_object_json(user_factory, client_for, raw):
    author = user_factory()
    response = client_for(author).post(url(author.id), raw, content_type="application/json")
    assert response.status_code == 400
    assert row_counts() == NOTHING_WRITTEN


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_400_for_json_nested_too_deep(user_factory, client_for, depth):
    # given: a body nested past the parser's bound (1,000 levels raised RecursionError: a 500)
    author = user_factory()
    raw = '{"content": ' + "[" * depth + "]" * depth + "}"
    # when
    response = client_for(author).post(url(author.id), raw, content_type="application/json")
    # then
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested deeper than 32 levels.", "code": "parse_error"}
    assert row_counts() == NOTHING_WRITTEN


def test_401_for_json_nested_too_deep_without_login(user_factory, api_client):
    author = user_factory()
    response = api_client.post(url(author.id), "[" * 1000 + "]" * 1000, content_type="application/json")
    assert response.status_code == 401
    assert row_counts() == NOTHING_WRITTEN


def test_415_for_non_json_content_type(user_factory, client_for):
    author = user_factory()
    response = client_for(author).post(url(author.id), "content=hi", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert row_counts() == NOTHING_WRITTEN


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("user_id", ["abc", "-1", "1.5", "9223372036854775808"])
def test_non_numeric_user_id_is_a_json_404(user_factory, client_for, settings, debug, user_id):
    # given: with DEBUG on, Django's own 404 is an HTML page listing the URL patterns
    settings.DEBUG = debug
    author = user_factory()
    # when
    response = client_for(author).post(f"/api/Post/users/{user_id}", {"content": "hi"}, format="json")
    # then
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "No such resource: check the path and that ids are integers.", "code": "not_found",
    }
    assert row_counts() == NOTHING_WRITTEN


def test_schema_documents_the_404_of_the_create_route(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    responses = schema["paths"]["/api/Post/users/{user_id}"]["post"]["responses"]
    assert sorted(responses) == ["201", "400", "401", "403", "404"]
    assert responses["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize("debug", [False, True])
def test_413_for_a_10_mb_body_in_the_json_error_shape(user_factory, client_for, settings, debug):
    # given: Django refused bodies over DATA_UPLOAD_MAX_MEMORY_SIZE with an HTML 400
    settings.DEBUG = debug
    author = user_factory()
    raw = '{"content": "' + "x" * (10 * 1024 * 1024) + '"}'
    # when
    response = client_for(author).post(url(author.id), raw, content_type="application/json")
    # then
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large: at most 2621440 bytes.", "code": "request_too_large"}
    assert row_counts() == NOTHING_WRITTEN
