"""``GET /api/search``: the three result shapes, cursor pages, every bad input (400 in the
API's error shape, nothing changed) and the OpenAPI schema."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from posts.models import Post
from search.cursors import encode_cursor
from tests.search.conftest import DATABASES
from tests.search.helpers import NOW, write

pytestmark = pytest.mark.django_db(databases=DATABASES)


@pytest.fixture
def alice(backend, user_factory):
    return user_factory(username="alice", display_name="Alice Liddell")


@pytest.fixture
def client(alice, client_for):
    return client_for(alice)


def test_posts_page_has_post_objects_and_a_cursor(alice, client, user_factory):
    bob = user_factory(username="bob")
    older = write(alice, "Tea with @bob #teatime", age=timedelta(hours=2))
    newer = write(bob, "More tea #teatime")
    response = client.get("/api/search", {"q": "tea", "limit": 1})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"type", "results", "next_cursor"}
    assert body["type"] == "posts"
    [post] = body["results"]
    assert post["id"] == newer.pk
    assert post["author"]["username"] == "bob"
    assert post["hashtags"] == ["teatime"]
    assert post["liked_by_me"] is False
    assert set(post) == {"id", "author", "content", "visibility", "hashtags", "mentions", "created_at", "edited_at",
                         "like_count", "comment_count", "liked_by_me", "score"}
    second = client.get("/api/search", {"q": "tea", "limit": 1, "cursor": body["next_cursor"]}).json()
    assert [p["id"] for p in second["results"]] == [older.pk]
    assert [m["username"] for m in second["results"][0]["mentions"]] == ["bob"]
    assert second["next_cursor"] is None


def test_default_type_is_posts(alice, client):
    post = write(alice, "Default type")
    assert [p["id"] for p in client.get("/api/search", {"q": "default"}).json()["results"]] == [post.pk]


def test_users_page_has_user_objects(alice, client, user_factory):
    user_factory(username="alicia", display_name="Alicia Keys")
    body = client.get("/api/search", {"q": "alic", "type": "users"}).json()
    assert [u["username"] for u in body["results"]] == ["alice", "alicia"]
    assert set(body["results"][0]) == {"id", "username", "display_name", "bio", "date_joined"}
    assert body["next_cursor"] is None
    page = client.get("/api/search", {"q": "alic", "type": "users", "limit": 1}).json()
    assert [u["username"] for u in page["results"]] == ["alice"]
    rest = client.get("/api/search", {"q": "alic", "type": "users", "limit": 1, "cursor": page["next_cursor"]}).json()
    assert [u["username"] for u in rest["results"]] == ["alicia"]


def test_hashtags_page(alice, client):
    first = write(alice, "#tealeaf")
    Post.objects.filter(pk=first.pk).update(created_at=NOW)
    body = client.get("/api/search", {"q": "#tea", "type": "hashtags"}).json()
    assert body == {"type": "hashtags", "results": [{"name": "tealeaf", "post_count": 1,
                                 "last_used_at": NOW.isoformat().replace("+00:00", "Z")}], "next_cursor": None}


def _error(response, field):
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body) == [field], body
    assert isinstance(body[field], list) and body[field] and all(isinstance(m, str) for m in body[field])
    return body[field][0]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({}, "q", "This field is required."),
        ({"q": ""}, "q", "This field may not be blank."),
        ({"q": "   "}, "q", "This field may not be blank."),
        ({"q": "x" * 201}, "q", "Ensure this field has no more than 200 characters."),
        ({"q": "!!! ???"}, "q", "Enter at least one word, #hashtag or @username to search for."),
        ({"q": " ".join(f"w{n}" for n in range(17))}, "q", "Use at most 16 search terms."),
        ({"q": "a\x00b"}, "q", "Null characters are not allowed."),
        ({"q": "tea", "type": "groups"}, "type", '"groups" is not a valid choice.'),
        ({"q": "tea", "limit": "0"}, "limit", "Must be an integer between 1 and 100."),
        ({"q": "tea", "limit": "101"}, "limit", "Must be an integer between 1 and 100."),
        ({"q": "tea", "limit": "ten"}, "limit", "Must be an integer between 1 and 100."),
        ({"q": "tea", "cursor": "AAAA"}, "cursor", "Invalid cursor."),
        ({"q": "tea", "cursor": "not base64 !"}, "cursor", "Invalid cursor."),
        ({"q": "tea", "cursor": base64.urlsafe_b64encode(json.dumps({"id": -1}).encode()).decode()}, "cursor",
         "Invalid cursor."),
        ({"q": "a b", "type": "hashtags"}, "q", "Enter the beginning of one hashtag: letters, digits and _ only."),
        ({"q": "#", "type": "hashtags"}, "q", "Enter the beginning of one hashtag: letters, digits and _ only."),
        ({"q": "@", "type": "users"}, "q", "Enter a name or username with at least one letter or digit."),
    ],
)
def test_bad_input_is_a_400_naming_the_field(alice, client, params, field, message):
    post = write(alice, "tea for two")
    before = Post.objects.count()
    assert _error(client.get("/api/search", params), field) == message
    assert Post.objects.count() == before and Post.objects.get(pk=post.pk).content == "tea for two"


def test_a_cursor_only_continues_its_own_search(alice, client):
    for n in range(3):
        write(alice, f"tea coffee {n}")
    cursor = client.get("/api/search", {"q": "tea", "limit": 1}).json()["next_cursor"]
    assert cursor
    assert _error(client.get("/api/search", {"q": "coffee", "limit": 1, "cursor": cursor}), "cursor") == "Invalid cursor."
    assert _error(client.get("/api/search", {"q": "tea", "type": "users", "cursor": cursor}), "cursor") == "Invalid cursor."
    forged = encode_cursor("posts", "0" * 12, (1.0, 1))
    assert _error(client.get("/api/search", {"q": "tea", "cursor": forged}), "cursor") == "Invalid cursor."
    assert client.get("/api/search", {"q": "tea", "limit": 1, "cursor": cursor}).status_code == 200


@pytest.mark.parametrize("key", [["x", 1], [1.5, "1"], [1.5, -3], [float("inf"), 1], [True, 1], [1.0]])
def test_a_cursor_with_a_malformed_key_is_refused(alice, client, key):
    from search.query import fingerprint, parse_post_query

    digest = fingerprint("posts", repr(parse_post_query("tea")))
    raw = json.dumps({"k": "posts", "f": digest, "a": key})
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    assert _error(client.get("/api/search", {"q": "tea", "cursor": cursor}), "cursor") == "Invalid cursor."


def test_schema_documents_the_endpoint(api_client):
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/search"]["get"]
    assert operation["operationId"] == "search"
    assert {p["name"]: p.get("required", False) for p in operation["parameters"]} == {
        "q": True, "type": False, "cursor": False, "limit": False
    }
    [type_param] = [p for p in operation["parameters"] if p["name"] == "type"]
    assert type_param["schema"]["enum"] == ["hashtags", "posts", "users"]  # drf-spectacular sorts enums
    assert type_param["schema"]["default"] == "posts"
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/SearchPage"}
    variants = schema["components"]["schemas"]["SearchPage"]["oneOf"]
    assert [v["$ref"].rsplit("/", 1)[1] for v in variants] == ["PostSearchPage", "UserSearchPage", "HashtagSearchPage"]
    assert set(operation["responses"]) == {"200", "400", "401"}
