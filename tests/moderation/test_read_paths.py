"""Moderated content disappears from every read path once the event chain has run: post
detail, user posts, feed, hashtag posts, trends and notifications; a restore brings it back.

Transactional tests: the in-process bus dispatches ``post.moderated`` after commit and Celery
is eager, so the feed, trends and notification workers run inside the admin request.
"""

import pytest

from notifications.stores import get_notification_store
from posts.services import post_create
from trends.models import HashtagBucket
from trends.services import global_trends_recompute_all

pytestmark = pytest.mark.django_db(transaction=True)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [post["id"] for post in response.json()["results"]]


def trends(client) -> list[tuple[str, int, int]]:
    global_trends_recompute_all()  # the beat task, run now
    response = client.get("/api/trends/?window=24h")
    assert response.status_code == 200
    return [(t["hashtag"], t["post_count"], t["unique_authors"]) for t in response.json()]


def friend_posted(client) -> list[int]:
    response = client.get("/api/notifications/")
    assert response.status_code == 200
    return [n["post_id"] for n in response.json()["results"] if n["type"] == "friend_posted"]


def read_paths(friend_client, author, post) -> dict:
    return {
        "detail": friend_client.get(f"/api/posts/{post.pk}").status_code,
        "user_posts": ids(friend_client.get(f"/api/Post/users/{author.pk}")),
        "feed_ranked": post.pk in ids(friend_client.get("/api/feed/")),
        "feed_recent": post.pk in ids(friend_client.get("/api/feed/?order=recent")),
        "hashtag_posts": ids(friend_client.get("/api/trends/hashtags/bellamycats/posts")),
        "trends": trends(friend_client),
        "bucket_uses": sum(HashtagBucket.objects.filter(hashtag__name="bellamycats").values_list("uses", flat=True)),
        "notifications": friend_posted(friend_client),
    }


@pytest.mark.parametrize(("action", "state"), [("hide_posts", "hidden"), ("remove_posts", "removed")])
def test_moderated_post_disappears_from_every_read_path_and_comes_back_on_restore(
    user_factory, befriend, client_for, moderator, admin_client, action, state
):
    # given an author with a friend, and another author, both posting #BellamyCats
    author, friend, other = user_factory(username="author"), user_factory(username="friend"), user_factory(username="other")
    befriend(author, friend)
    post = post_create(author=author, content="Sunset #BellamyCats")
    other_post = post_create(author=other, content="Mine too #bellamycats")
    friend_client = client_for(friend)
    visible = {
        "detail": 200,
        "user_posts": [post.pk],
        "feed_ranked": True,
        "feed_recent": True,
        "hashtag_posts": [other_post.pk, post.pk],
        "trends": [("bellamycats", 2, 2)],
        "bucket_uses": 2,
        "notifications": [post.pk],
    }
    assert read_paths(friend_client, author, post) == visible
    # when a moderator hides / removes the post in the admin
    admin = admin_client(moderator)
    response = admin.post("/admin/posts/post/", {"action": action, "_selected_action": [post.pk], "reason": "spam"})
    assert response.status_code == 302
    # then it is gone from every read path of the friend (the notification is deleted for good)
    post.refresh_from_db()
    assert post.moderation_state == state
    assert read_paths(friend_client, author, post) == {
        "detail": 404,
        "user_posts": [],
        "feed_ranked": False,
        "feed_recent": False,
        "hashtag_posts": [other_post.pk],
        "trends": [],
        "bucket_uses": 1,
        "notifications": [],
    }
    assert get_notification_store().count() == 0
    # while moderators still see it
    assert client_for(moderator).get(f"/api/posts/{post.pk}").status_code == 200
    # when the moderator restores it
    admin.post("/admin/posts/post/", {"action": "restore_posts", "_selected_action": [post.pk], "reason": "appeal"})
    # then it is back everywhere except the deleted notification
    assert read_paths(friend_client, author, post) == {**visible, "notifications": []}
