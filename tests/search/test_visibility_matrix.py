"""Post search respects visibility exactly like every other read path, on both backends.

Matrix: viewers (the author, a friend, a stranger, a user the author blocked, a user who
blocked the author, a moderator, a moderator who is the author's friend) × visibilities
(public, friends, private) × states (visible, hidden, removed, deleted), searched through
``GET /api/search`` by a word, by a hashtag and by a mention (three different queries of the
store). The expected set comes from the rules written out below, and must also equal what
``posts.selectors.visible_posts`` — every other read path — returns.
"""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from posts.models import Post
from posts.selectors import visible_posts
from tests.search.conftest import DATABASES
from tests.search.helpers import write

pytestmark = pytest.mark.django_db(databases=DATABASES)

VISIBILITIES = ("public", "friends", "private")
STATES = ("visible", "hidden", "removed", "deleted")
VIEWERS = ("author", "friend", "stranger", "blocked_by_author", "blocker", "moderator", "moderator_friend")
BLOCKED_PAIRS = {("author", "blocked_by_author"), ("author", "blocker")}


def may_see(viewer: str, visibility: str, state: str) -> bool:
    """The visibility rules (API.md), written out independently of the code."""
    if state == "deleted" or viewer in ("blocked_by_author", "blocker"):
        return False
    moderator = viewer.startswith("moderator")
    if state in ("hidden", "removed") and not moderator:
        return False
    if viewer == "author" or visibility == "public":
        return True
    if visibility == "friends":
        return viewer in ("friend", "moderator_friend")
    return False


@pytest.fixture
def world(backend, user_factory, befriend, block):
    people = {name: user_factory(username=name) for name in (*VIEWERS, "mentioned")}
    author = people["author"]
    befriend(author, people["friend"])
    befriend(author, people["moderator_friend"])
    block(author, people["blocked_by_author"])
    block(people["blocker"], author)
    view_post = Permission.objects.get(codename="view_post", content_type__app_label="posts")
    for name in ("moderator", "moderator_friend"):
        people[name].is_staff = True
        people[name].save(update_fields=["is_staff"])
        people[name].user_permissions.add(view_post)
    posts = {}
    for visibility, state in itertools.product(VISIBILITIES, STATES):
        fields = {"deleted_at": timezone.now()} if state == "deleted" else {"moderation_state": state}
        posts[visibility, state] = write(
            author, f"Matrix {visibility} {state} #MatrixTag @mentioned", visibility=visibility, **fields
        )
    # posts by the other people, public and visible: the blocked ones stay hidden too
    others = {name: write(people[name], "Matrix from elsewhere #MatrixTag @mentioned") for name in VIEWERS if name != "author"}
    return people, posts, others


@pytest.mark.parametrize("query", ["matrix", "#matrixtag", "@mentioned", "matrix #MatrixTag @mentioned"])
def test_search_returns_exactly_the_posts_each_viewer_may_see(world, client_for, query):
    people, posts, others = world
    for viewer in VIEWERS:
        response = client_for(people[viewer]).get("/api/search", {"q": query, "limit": 100})
        assert response.status_code == 200, response.content
        got = {post["id"] for post in response.json()["results"]}
        expected = {post.pk for (visibility, state), post in posts.items() if may_see(viewer, visibility, state)}
        # the others' posts are public: hidden only across the author's two blocks
        expected |= {post.pk for name, post in others.items() if (viewer, name) not in BLOCKED_PAIRS}
        assert got == expected, (viewer, query)
        # and it is exactly what every other read path lets this viewer see
        every_path = set(visible_posts(people[viewer], details=False).values_list("pk", flat=True))
        assert got == every_path, (viewer, query)


def test_expected_matrix_is_not_trivial(world):
    people, posts, _ = world
    seen = {viewer: sum(may_see(viewer, v, s) for v, s in posts) for viewer in VIEWERS}
    assert seen == {"author": 3, "friend": 2, "stranger": 1, "blocked_by_author": 0, "blocker": 0,
                    "moderator": 3, "moderator_friend": 6}
    assert Post.objects.count() == len(VISIBILITIES) * len(STATES) + len(VIEWERS) - 1


def test_anonymous_callers_get_401(world, api_client):
    response = api_client.get("/api/search", {"q": "matrix"})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
