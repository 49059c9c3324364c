"""Happy paths and edge cases of every posts endpoint (exact bodies, counters, events)."""

import pytest
from django.utils import timezone

from posts import services
from posts.models import Comment, Like, Post, Report
from tests.posts.factories import CommentFactory, PostFactory
from tests.posts.helpers import outbox, row_counts

pytestmark = pytest.mark.django_db


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def user_json(user):
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "bio": user.bio, "date_joined": iso(user.date_joined)}


# --- GET /api/Post/users/{id} ------------------------------------------------------------


def test_user_posts_newest_first_with_cursor_pages(user_factory, client_for):
    # given an author with 3 public posts and a reader
    author, reader = user_factory(), user_factory()
    posts = [services.post_create(author=author, content=f"post {i}") for i in range(3)]
    client = client_for(reader)
    # when reading 2 per page
    first = client.get(f"/api/Post/users/{author.id}?limit=2")
    # then newest first, and the cursor yields the rest
    assert first.status_code == 200
    assert [p["id"] for p in first.json()["results"]] == [posts[2].id, posts[1].id]
    cursor = first.json()["next_cursor"]
    assert isinstance(cursor, str)
    second = client.get(f"/api/Post/users/{author.id}", {"limit": 2, "cursor": cursor})
    assert [p["id"] for p in second.json()["results"]] == [posts[0].id]
    assert second.json()["next_cursor"] is None


def test_user_posts_unknown_user_404(user_factory, client_for):
    response = client_for(user_factory()).get("/api/Post/users/999999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such user.", "code": "user_not_found"}


def test_user_posts_non_numeric_id_404(user_factory, client_for):
    response = client_for(user_factory()).get("/api/Post/users/abc")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize("limit", ["0", "1000000", "abc", "-1", "101"])
def test_user_posts_bad_limit_400(user_factory, client_for, limit):
    author = user_factory()
    response = client_for(author).get(f"/api/Post/users/{author.id}", {"limit": limit})
    assert response.status_code == 400
    assert response.json() == {"limit": ["Must be an integer between 1 and 100."]}


def test_user_posts_bad_cursor_400(user_factory, client_for):
    author = user_factory()
    response = client_for(author).get(f"/api/Post/users/{author.id}", {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert response.json() == {"cursor": ["Invalid cursor."]}


def test_user_posts_limit_100_is_ok(user_factory, client_for):
    author = user_factory()
    response = client_for(author).get(f"/api/Post/users/{author.id}", {"limit": "100"})
    assert response.status_code == 200
    assert response.json() == {"results": [], "next_cursor": None}


# --- GET / PATCH / DELETE /api/posts/{id} --------------------------------------------------


def test_get_post_200_with_liked_by_me(user_factory, client_for):
    # given a post the reader liked
    author, reader = user_factory(), user_factory()
    post = services.post_create(author=author, content="#Hi @" + reader.username)
    services.post_like(post=post, user=reader)
    # when the reader and the author read it
    as_reader = client_for(reader).get(f"/api/posts/{post.id}")
    as_author = client_for(author).get(f"/api/posts/{post.id}")
    # then both see like_count 1, and liked_by_me differs
    assert as_reader.status_code == 200
    assert as_reader.json() == {
        "id": post.id,
        "author": user_json(author),
        "content": f"#Hi @{reader.username}",
        "visibility": "public",
        "hashtags": ["hi"],
        "mentions": [user_json(reader)],
        "created_at": iso(post.created_at),
        "edited_at": None,
        "like_count": 1,
        "comment_count": 0,
        "liked_by_me": True,
        "score": None,
    }
    assert (as_author.json()["liked_by_me"], as_author.json()["like_count"]) == (False, 1)


def test_get_unknown_and_deleted_post_404(user_factory, client_for):
    author = user_factory()
    post = PostFactory(author=author, deleted_at=timezone.now())
    client = client_for(author)
    for path in (f"/api/posts/{post.id}", "/api/posts/999999999"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "No such post.", "code": "post_not_found"}
    assert client.get("/api/posts/abc").status_code == 404


def test_patch_post_200_sets_edited_at_and_publishes(user_factory, client_for):
    # given a post
    author = user_factory()
    post = services.post_create(author=author, content="#old")
    # when the author patches content and visibility
    response = client_for(author).patch(
        f"/api/posts/{post.id}", {"content": " #New text ", "visibility": "friends"}, format="json"
    )
    # then 200 with the new values and edited_at set
    assert response.status_code == 200
    body = response.json()
    assert (body["content"], body["visibility"], body["hashtags"]) == ("#New text", "friends", ["new"])
    assert body["edited_at"] is not None and body["edited_at"].endswith("Z")
    assert outbox()[-1] == (
        "post.updated",
        {"post_id": post.id, "author_id": author.id, "visibility": "friends", "hashtags": ["new"], "mention_ids": []},
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"non_field_errors": ["Give at least one of content, visibility."]}),
        ({"content": "   "}, {"content": ["This field may not be blank."]}),
        ({"content": "a" * 5001}, {"content": ["Ensure this field has no more than 5000 characters."]}),
        ({"content": 5}, {"content": ["Not a valid string."]}),
        ({"visibility": "world"}, {"visibility": ['"world" is not a valid choice.']}),
    ],
)
def test_patch_bad_body_400_changes_nothing(user_factory, client_for, body, expected):
    author = user_factory()
    post = PostFactory(author=author, content="keep")
    before = row_counts()
    response = client_for(author).patch(f"/api/posts/{post.id}", body, format="json")
    assert response.status_code == 400
    assert response.json() == expected
    post.refresh_from_db()
    assert (post.content, post.visibility, post.edited_at) == ("keep", "public", None)
    assert row_counts() == before


def test_patch_malformed_json_400(user_factory, client_for):
    author = user_factory()
    post = PostFactory(author=author)
    response = client_for(author).patch(f"/api/posts/{post.id}", "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_patch_by_non_author_403_before_body_validation(user_factory, client_for):
    post = PostFactory()
    response = client_for(user_factory()).patch(f"/api/posts/{post.id}", {"content": ""}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only the author can edit this post.", "code": "not_author"}


def test_delete_post_204_then_gone(user_factory, client_for):
    author = user_factory()
    post = services.post_create(author=author, content="bye")
    client = client_for(author)
    response = client.delete(f"/api/posts/{post.id}")
    assert (response.status_code, response.content) == (204, b"")
    assert client.get(f"/api/posts/{post.id}").status_code == 404
    assert client.delete(f"/api/posts/{post.id}").status_code == 404
    assert Post.objects.filter(pk=post.pk, deleted_at__isnull=False).count() == 1
    assert [t for t, _ in outbox()] == ["post.created", "post.deleted"]


# --- /api/posts/{id}/like -----------------------------------------------------------------


def test_like_201_then_200_then_unlike_204_twice(user_factory, client_for):
    # given a post and a reader
    post, reader = PostFactory(), user_factory()
    client = client_for(reader)
    # when liking twice, then unliking twice
    first = client.post(f"/api/posts/{post.id}/like")
    second = client.post(f"/api/posts/{post.id}/like")
    # then 201 then 200, both with the post object
    assert first.status_code == 201
    assert (first.json()["id"], first.json()["like_count"], first.json()["liked_by_me"]) == (post.id, 1, True)
    assert second.status_code == 200
    assert (second.json()["like_count"], second.json()["liked_by_me"]) == (1, True)
    unlike1 = client.delete(f"/api/posts/{post.id}/like")
    unlike2 = client.delete(f"/api/posts/{post.id}/like")
    assert (unlike1.status_code, unlike2.status_code) == (204, 204)
    # and exactly one liked and one unliked event
    data = {"post_id": post.id, "author_id": post.author_id, "user_id": reader.id}
    assert outbox() == [("post.liked", data), ("post.unliked", data)]
    post.refresh_from_db()
    assert post.like_count == 0
    assert Like.objects.count() == 0


def test_like_ignores_a_body(user_factory, client_for):
    post, reader = PostFactory(), user_factory()
    response = client_for(reader).post(f"/api/posts/{post.id}/like", {"anything": 1}, format="json")
    assert response.status_code == 201


# --- /api/posts/{id}/comments and /api/comments/{id} ---------------------------------------


def test_comment_create_201_and_list_oldest_first(user_factory, client_for):
    # given a post and a commenter
    post, commenter = PostFactory(), user_factory()
    client = client_for(commenter)
    # when commenting twice
    r1 = client.post(f"/api/posts/{post.id}/comments", {"content": "  first  "}, format="json")
    r2 = client.post(f"/api/posts/{post.id}/comments", {"content": "second"}, format="json")
    # then 201 with the comment object
    assert r1.status_code == 201
    c1 = Comment.objects.get(pk=r1.json()["id"])
    assert r1.json() == {
        "id": c1.id, "post_id": post.id, "author": user_json(commenter), "content": "first",
        "created_at": iso(c1.created_at),
    }
    # and the list is oldest first, paginated
    listing = client.get(f"/api/posts/{post.id}/comments", {"limit": 1})
    assert listing.status_code == 200
    assert [c["id"] for c in listing.json()["results"]] == [c1.id]
    rest = client.get(f"/api/posts/{post.id}/comments", {"limit": 1, "cursor": listing.json()["next_cursor"]})
    assert [c["id"] for c in rest.json()["results"]] == [r2.json()["id"]]
    post.refresh_from_db()
    assert post.comment_count == 2
    assert [t for t, _ in outbox()] == ["comment.created", "comment.created"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"content": ["This field is required."]}),
        ({"content": " "}, {"content": ["This field may not be blank."]}),
        ({"content": "a" * 2001}, {"content": ["Ensure this field has no more than 2000 characters."]}),
        ({"content": 1}, {"content": ["Not a valid string."]}),
    ],
)
def test_comment_bad_body_400_writes_nothing(user_factory, client_for, body, expected):
    post = PostFactory()
    before = row_counts()
    response = client_for(user_factory()).post(f"/api/posts/{post.id}/comments", body, format="json")
    assert (response.status_code, response.json()) == (400, expected)
    assert row_counts() == before


def test_comment_of_2000_characters_is_accepted(user_factory, client_for):
    post = PostFactory()
    response = client_for(user_factory()).post(f"/api/posts/{post.id}/comments", {"content": "b" * 2000}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize("limit", ["0", "1000000"])
def test_comments_bad_limit_400(user_factory, client_for, limit):
    post = PostFactory()
    response = client_for(user_factory()).get(f"/api/posts/{post.id}/comments", {"limit": limit})
    assert response.status_code == 400


def test_comment_delete_rules(user_factory, client_for):
    # given a post with comments by a commenter
    post, commenter, other = PostFactory(), user_factory(), user_factory()
    c1 = services.comment_create(post=post, author=commenter, content="one")
    c2 = services.comment_create(post=post, author=commenter, content="two")
    # when a third user deletes / then 403 with nothing changed
    response = client_for(other).delete(f"/api/comments/{c1.id}")
    assert response.status_code == 403
    assert response.json()["code"] == "not_allowed"
    # when the commenter and the post author delete / then 204 each, then 404 again
    assert client_for(commenter).delete(f"/api/comments/{c1.id}").status_code == 204
    assert client_for(post.author).delete(f"/api/comments/{c2.id}").status_code == 204
    assert client_for(commenter).delete(f"/api/comments/{c1.id}").status_code == 404
    assert client_for(commenter).delete("/api/comments/999999999").status_code == 404
    post.refresh_from_db()
    assert post.comment_count == 0
    assert client_for(other).get(f"/api/posts/{post.id}/comments").json()["results"] == []


# --- /api/posts/{id}/report ----------------------------------------------------------------


def test_report_201_then_409(user_factory, client_for):
    post, reporter = PostFactory(), user_factory()
    client = client_for(reporter)
    response = client.post(f"/api/posts/{post.id}/report", {"reason": "spam", "details": " ads "}, format="json")
    assert response.status_code == 201
    report = Report.objects.get()
    assert response.json() == {
        "id": report.id, "post_id": post.id, "reason": "spam", "details": "ads", "status": "open",
        "created_at": iso(report.created_at),
    }
    again = client.post(f"/api/posts/{post.id}/report", {"reason": "abuse"}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "already_reported"
    assert Report.objects.count() == 1


def test_report_details_optional(user_factory, client_for):
    post = PostFactory()
    response = client_for(user_factory()).post(f"/api/posts/{post.id}/report", {"reason": "other"}, format="json")
    assert (response.status_code, response.json()["details"]) == (201, "")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"reason": ["This field is required."]}),
        ({"reason": "boring"}, {"reason": ['"boring" is not a valid choice.']}),
        ({"reason": "spam", "details": "d" * 1001}, {"details": ["Ensure this field has no more than 1000 characters."]}),
        ({"reason": "spam", "details": 7}, {"details": ["Not a valid string."]}),
    ],
)
def test_report_bad_body_400(user_factory, client_for, body, expected):
    post = PostFactory()
    response = client_for(user_factory()).post(f"/api/posts/{post.id}/report", body, format="json")
    assert (response.status_code, response.json()) == (400, expected)
    assert Report.objects.count() == 0


def test_report_own_post_400(user_factory, client_for):
    post = PostFactory()
    response = client_for(post.author).post(f"/api/posts/{post.id}/report", {"reason": "spam"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "You cannot report your own post.", "code": "own_post"}
    assert Report.objects.count() == 0


def test_comment_on_deleted_post_404(user_factory, client_for):
    post = PostFactory(deleted_at=timezone.now())
    CommentFactory(post=post)
    client = client_for(user_factory())
    assert client.get(f"/api/posts/{post.id}/comments").status_code == 404
    assert client.post(f"/api/posts/{post.id}/comments", {"content": "x"}, format="json").status_code == 404


def test_moderator_reads_hidden_post_others_get_404(user_factory, client_for):
    from django.contrib.auth.models import Permission

    # given a hidden post and a moderator (staff with posts.view_post)
    post = PostFactory(moderation_state="hidden")
    moderator = user_factory(is_staff=True)
    moderator.user_permissions.add(Permission.objects.get(codename="view_post", content_type__app_label="posts"))
    # when the moderator, the author and a stranger read it
    # then only the moderator gets it
    assert client_for(moderator).get(f"/api/posts/{post.id}").status_code == 200
    assert client_for(post.author).get(f"/api/posts/{post.id}").status_code == 404
    assert client_for(user_factory()).get(f"/api/posts/{post.id}").status_code == 404
