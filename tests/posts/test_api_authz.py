"""Authorization matrix: viewer (anonymous, stranger, friend, author, blocked, blocker) ×
endpoint × post visibility → exact status; every refused call writes nothing.

``blocked`` is a user the author blocked; ``blocker`` a user who blocked the author.
"""

import pytest

from posts.models import Comment, Post
from tests.posts.factories import CommentFactory, PostFactory
from tests.posts.helpers import row_counts

pytestmark = pytest.mark.django_db

VIEWERS = ("anonymous", "stranger", "friend", "author", "blocked", "blocker")
VISIBILITIES = ("public", "friends", "private")

#: endpoint → viewer → expected status for (public, friends, private) posts.
#: For the list endpoint "200+" means 200 listing the post, "200-" 200 without it.
EXPECTED = {
    "get": {
        "anonymous": (401, 401, 401), "stranger": (200, 404, 404), "friend": (200, 200, 404),
        "author": (200, 200, 200), "blocked": (404, 404, 404), "blocker": (404, 404, 404),
    },
    "list": {
        "anonymous": (401, 401, 401), "stranger": ("200+", "200-", "200-"),
        "friend": ("200+", "200+", "200-"), "author": ("200+", "200+", "200+"),
        "blocked": (404, 404, 404), "blocker": (404, 404, 404),
    },
    "patch": {
        "anonymous": (401, 401, 401), "stranger": (403, 404, 404), "friend": (403, 403, 404),
        "author": (200, 200, 200), "blocked": (404, 404, 404), "blocker": (404, 404, 404),
    },
    "delete": {
        "anonymous": (401, 401, 401), "stranger": (403, 404, 404), "friend": (403, 403, 404),
        "author": (204, 204, 204), "blocked": (404, 404, 404), "blocker": (404, 404, 404),
    },
    "like": {
        "anonymous": (401, 401, 401), "stranger": (201, 404, 404), "friend": (201, 201, 404),
        "author": (201, 201, 201), "blocked": (404, 404, 404), "blocker": (404, 404, 404),
    },
    "unlike": {
        "anonymous": (401, 401, 401), "stranger": (204, 404, 404), "friend": (204, 204, 404),
        "author": (204, 204, 204), "blocked": (404, 404, 404), "blocker": (404, 404, 404),
    },
    "comments": {
        "anonymous": (401, 401, 401), "stranger": (200, 404, 404), "friend": (200, 200, 404),
        "author": (200, 200, 200), "blocked": (404, 404, 404), "blocker": (404, 404, 404),
    },
    "comment": {
        "anonymous": (401, 401, 401), "stranger": (201, 404, 404), "friend": (201, 201, 404),
        "author": (201, 201, 201), "blocked": (404, 404, 404), "blocker": (404, 404, 404),
    },
    "report": {
        "anonymous": (401, 401, 401), "stranger": (201, 404, 404), "friend": (201, 201, 404),
        "author": (400, 400, 400), "blocked": (404, 404, 404), "blocker": (404, 404, 404),
    },
    "delete_comment": {
        "anonymous": (401, 401, 401), "stranger": (403, 404, 404), "friend": (403, 403, 404),
        "author": (204, 204, 204), "blocked": (404, 404, 404), "blocker": (404, 404, 404),
    },
}


def call(client, endpoint, post, comment):
    """Perform ``endpoint`` on ``post`` (``comment`` is the author's comment on it)."""
    base = f"/api/posts/{post.id}"
    if endpoint == "get":
        return client.get(base)
    if endpoint == "list":
        return client.get(f"/api/Post/users/{post.author_id}")
    if endpoint == "patch":
        return client.patch(base, {"content": "edited"}, format="json")
    if endpoint == "delete":
        return client.delete(base)
    if endpoint == "like":
        return client.post(f"{base}/like")
    if endpoint == "unlike":
        return client.delete(f"{base}/like")
    if endpoint == "comments":
        return client.get(f"{base}/comments")
    if endpoint == "comment":
        return client.post(f"{base}/comments", {"content": "hello"}, format="json")
    if endpoint == "report":
        return client.post(f"{base}/report", {"reason": "spam"}, format="json")
    if endpoint == "delete_comment":
        return client.delete(f"/api/comments/{comment.id}")
    raise AssertionError(endpoint)


CASES = [
    pytest.param(endpoint, viewer, index, id=f"{endpoint}-{viewer}-{visibility}")
    for endpoint in EXPECTED
    for viewer in VIEWERS
    for index, visibility in enumerate(VISIBILITIES)
]


@pytest.mark.parametrize(("endpoint", "viewer", "index"), CASES)
def test_authorization_matrix(user_factory, befriend, block, client_for, api_client, endpoint, viewer, index):
    # given an author, their friend, a stranger, a user they blocked and one who blocked them,
    # and one post of the given visibility carrying a comment by the author
    author = user_factory(username="author")
    others = {name: user_factory(username=name) for name in ("stranger", "friend", "blocked", "blocker")}
    befriend(author, others["friend"])
    block(author, others["blocked"])
    block(others["blocker"], author)
    post = PostFactory(author=author, visibility=VISIBILITIES[index], content="original")
    comment = CommentFactory(post=post, author=author)
    Post.objects.filter(pk=post.pk).update(comment_count=1)
    users = {"author": author, **others}
    client = api_client if viewer == "anonymous" else client_for(users[viewer])
    expected = EXPECTED[endpoint][viewer][index]
    before = row_counts()
    # when the viewer calls the endpoint
    response = call(client, endpoint, post, comment)
    # then the status is exactly as in the table
    if isinstance(expected, str):
        assert response.status_code == 200
        ids = [p["id"] for p in response.json()["results"]]
        assert ids == ([post.id] if expected == "200+" else [])
    else:
        assert response.status_code == expected, response.content
    # and a refused call (4xx) wrote nothing and left the post and comment untouched
    if response.status_code >= 400:
        assert set(response.json()) >= {"detail", "code"}
        assert row_counts() == before
        post.refresh_from_db()
        assert (post.content, post.deleted_at, post.like_count, post.comment_count) == ("original", None, 0, 1)
        assert Comment.objects.get(pk=comment.pk).deleted_at is None
