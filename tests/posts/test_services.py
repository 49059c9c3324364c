"""posts.services: writes, counters and the exact events they publish."""

import pytest
from rest_framework.exceptions import PermissionDenied

from posts import services
from posts.models import Comment, Hashtag, Like, Post, Report
from tests.posts.factories import CommentFactory, PostFactory
from tests.posts.helpers import outbox, row_counts

pytestmark = pytest.mark.django_db


def test_post_create_links_tags_and_existing_mentions_and_publishes(user_factory):
    # given an author and two existing users, one of them suspended
    author = user_factory(username="author")
    alice = user_factory(username="Alice")
    user_factory(username="sleepy", is_active=False)
    # when the author posts with tags and mentions (one unknown, one suspended)
    post = services.post_create(
        author=author,
        content="  Hello #Café @alice @ALICE @nobody @sleepy #café #python  ",
        visibility="friends",
    )
    # then the post is stored trimmed with its links in text order
    post.refresh_from_db()
    assert post.content == "Hello #Café @alice @ALICE @nobody @sleepy #café #python"
    assert post.visibility == "friends"
    assert post.moderation_state == "visible"
    assert (post.like_count, post.comment_count, post.edited_at, post.deleted_at) == (0, 0, None, None)
    assert list(post.post_hashtags.order_by("id").values_list("hashtag__name", flat=True)) == ["café", "python"]
    assert list(post.mentions.values_list("id", flat=True)) == [alice.id]
    # and exactly one post.created event was published
    assert outbox() == [
        (
            "post.created",
            {
                "post_id": post.id,
                "author_id": author.id,
                "visibility": "friends",
                "hashtags": ["café", "python"],
                "mention_ids": [alice.id],
                "created_at": post.created_at.isoformat().replace("+00:00", "Z"),
            },
        )
    ]


def test_post_create_event_envelope_key_and_actor(user_factory):
    from bellamy.events.models import OutboxEvent

    # given an author / when they post
    author = user_factory()
    services.post_create(author=author, content="hi")
    # then the envelope is keyed by the author and names them as actor
    row = OutboxEvent.objects.get()
    assert (row.key, row.payload["key"], row.payload["actor_id"]) == (str(author.id), str(author.id), author.id)


def test_hashtags_are_shared_between_posts(user_factory):
    # given a post tagged #Django
    a, b = user_factory(), user_factory()
    services.post_create(author=a, content="#Django")
    # when another user tags #DJANGO and #new
    services.post_create(author=b, content="#DJANGO #new")
    # then there are two Hashtag rows, "django" shared
    assert sorted(Hashtag.objects.values_list("name", flat=True)) == ["django", "new"]
    assert Hashtag.objects.get(name="django").posts.count() == 2


def test_post_update_reparses_sets_edited_at_and_publishes(user_factory):
    # given a post with a tag and a mention
    author, bob, carol = user_factory(), user_factory(username="bob"), user_factory(username="carol")
    post = services.post_create(author=author, content="#old @bob")
    # when the author edits the content and the visibility
    services.post_update(post=post, user=author, content=" #new @carol #New ", visibility="private")
    # then the links are rebuilt, edited_at is set, and post.updated carries the new values
    post.refresh_from_db()
    assert post.content == "#new @carol #New"
    assert post.visibility == "private"
    assert post.edited_at is not None
    assert list(post.hashtags.values_list("name", flat=True)) == ["new"]
    assert list(post.mentions.values_list("id", flat=True)) == [carol.id]
    assert outbox()[1] == (
        "post.updated",
        {"post_id": post.id, "author_id": author.id, "visibility": "private", "hashtags": ["new"], "mention_ids": [carol.id]},
    )
    assert bob.id != carol.id


def test_post_update_visibility_only_keeps_links(user_factory):
    # given a post with tags and a mention
    author, bob = user_factory(), user_factory(username="bob")
    post = services.post_create(author=author, content="#one #two @bob")
    # when only the visibility changes
    services.post_update(post=post, user=author, visibility="friends")
    # then content and links stay and the event repeats them
    post.refresh_from_db()
    assert (post.content, post.visibility) == ("#one #two @bob", "friends")
    assert outbox()[1] == (
        "post.updated",
        {"post_id": post.id, "author_id": author.id, "visibility": "friends", "hashtags": ["one", "two"], "mention_ids": [bob.id]},
    )


def test_post_update_by_other_user_is_refused_and_writes_nothing(user_factory):
    # given someone else's post
    post = PostFactory(content="original")
    intruder = user_factory()
    before = row_counts()
    # when the intruder edits it / then 403 and nothing changed
    with pytest.raises(PermissionDenied):
        services.post_update(post=post, user=intruder, content="hacked")
    post.refresh_from_db()
    assert (post.content, post.edited_at) == ("original", None)
    assert row_counts() == before


def test_post_delete_is_soft_and_publishes_once(user_factory):
    # given a post
    post = PostFactory()
    # when the author deletes it twice
    services.post_delete(post=post, user=post.author)
    services.post_delete(post=post, user=post.author)
    # then the row stays with deleted_at set and one post.deleted event was published
    post.refresh_from_db()
    assert post.deleted_at is not None
    assert outbox() == [("post.deleted", {"post_id": post.id, "author_id": post.author_id})]


def test_post_delete_by_other_user_is_refused(user_factory):
    post = PostFactory()
    with pytest.raises(PermissionDenied):
        services.post_delete(post=post, user=user_factory())
    post.refresh_from_db()
    assert post.deleted_at is None
    assert outbox() == []


def test_like_is_idempotent_and_counts(user_factory):
    # given a post and a liker
    post, liker = PostFactory(), user_factory()
    # when the liker likes it twice
    like1, created1 = services.post_like(post=post, user=liker)
    like2, created2 = services.post_like(post=post, user=liker)
    # then one like, counter 1, one event
    assert (created1, created2, like1.pk == like2.pk) == (True, False, True)
    post.refresh_from_db()
    assert post.like_count == 1
    assert Like.objects.count() == 1
    assert outbox() == [("post.liked", {"post_id": post.id, "author_id": post.author_id, "user_id": liker.id})]


def test_repeat_like_answers_the_counter_of_the_committed_like(user_factory):
    # given two snapshots of one post read before a like (two concurrent requests of one user)
    post, liker = PostFactory(), user_factory()
    first, second = Post.objects.get(pk=post.pk), Post.objects.get(pk=post.pk)
    # when the first request likes it, then the second tries with its stale snapshot
    services.post_like(post=first, user=liker)
    like, created = services.post_like(post=second, user=liker)
    # then the second answers from the committed state, not from its snapshot
    assert (created, second.like_count, second.liked_by_me) == (False, 1, True)
    assert like.pk == Like.objects.get().pk


def test_unlike_is_idempotent_and_counts(user_factory):
    # given a liked post
    post, liker = PostFactory(), user_factory()
    services.post_like(post=post, user=liker)
    # when unliked twice
    removed1 = services.post_unlike(post=post, user=liker)
    removed2 = services.post_unlike(post=post, user=liker)
    # then one removal, counter 0, one post.unliked event
    assert (removed1, removed2) == (True, False)
    post.refresh_from_db()
    assert post.like_count == 0
    assert outbox()[1:] == [("post.unliked", {"post_id": post.id, "author_id": post.author_id, "user_id": liker.id})]


def test_unlike_without_like_publishes_nothing(user_factory):
    post = PostFactory()
    assert services.post_unlike(post=post, user=user_factory()) is False
    post.refresh_from_db()
    assert post.like_count == 0
    assert outbox() == []


def test_comment_create_counts_and_publishes_with_mentions(user_factory):
    # given a post and a commenter mentioning an existing and an unknown user
    post, commenter, dora = PostFactory(), user_factory(), user_factory(username="dora")
    # when commenting
    comment = services.comment_create(post=post, author=commenter, content="  nice @Dora @ghost ")
    # then the comment is stored trimmed, the counter moved and the event names dora only
    assert comment.content == "nice @Dora @ghost"
    post.refresh_from_db()
    assert post.comment_count == 1
    assert outbox() == [
        (
            "comment.created",
            {"comment_id": comment.id, "post_id": post.id, "author_id": post.author_id, "user_id": commenter.id, "mention_ids": [dora.id]},
        )
    ]


def test_comment_delete_by_comment_author_and_post_author(user_factory):
    # given a post with two comments (counter kept by the service)
    post, commenter = PostFactory(), user_factory()
    c1 = services.comment_create(post=post, author=commenter, content="one")
    c2 = services.comment_create(post=post, author=commenter, content="two")
    # when the commenter deletes one and the post author the other (and one again)
    services.comment_delete(comment=c1, user=commenter)
    services.comment_delete(comment=c2, user=post.author)
    services.comment_delete(comment=c2, user=post.author)
    # then both are soft deleted and the counter is 0
    assert Comment.objects.filter(deleted_at__isnull=False).count() == 2
    post.refresh_from_db()
    assert post.comment_count == 0


def test_comment_delete_by_stranger_is_refused(user_factory):
    comment = CommentFactory()
    with pytest.raises(PermissionDenied):
        services.comment_delete(comment=comment, user=user_factory())
    comment.refresh_from_db()
    assert comment.deleted_at is None


def test_report_create_rules(user_factory):
    # given a post and a reporter
    post, reporter = PostFactory(), user_factory()
    # when reporting it
    report = services.report_create(post=post, reporter=reporter, reason="spam", details=" buy now ")
    # then an open report is stored; a second open one is a 409; own post is a 400
    assert (report.reason, report.details, report.status) == ("spam", "buy now", "open")
    with pytest.raises(services.AlreadyReported) as exc:
        services.report_create(post=post, reporter=reporter, reason="abuse")
    assert exc.value.status_code == 409
    with pytest.raises(services.CannotReportOwnPost) as exc:
        services.report_create(post=post, reporter=post.author, reason="spam")
    assert exc.value.status_code == 400
    assert Report.objects.count() == 1
    assert outbox() == []


def test_report_again_after_resolution(user_factory):
    # given a resolved report
    post, reporter = PostFactory(), user_factory()
    first = services.report_create(post=post, reporter=reporter, reason="spam")
    Report.objects.filter(pk=first.pk).update(status=Report.Status.RESOLVED)
    # when reporting again / then a new open report exists
    services.report_create(post=post, reporter=reporter, reason="other")
    assert list(Report.objects.order_by("id").values_list("status", flat=True)) == ["resolved", "open"]


def test_resolve_mentions_keeps_text_order_and_active_users(user_factory):
    zed, amy = user_factory(username="zed"), user_factory(username="Amy")
    user_factory(username="gone", is_active=False)
    assert services.resolve_mentions(["zed", "amy", "gone", "nobody"]) == [zed.id, amy.id]
    assert services.resolve_mentions([]) == []


def test_failed_publish_rolls_back_the_post(user_factory, monkeypatch):
    # given publish failing inside the service
    from bellamy.events.errors import UnknownEventType

    def boom(*args, **kwargs):
        raise UnknownEventType("nope")

    monkeypatch.setattr(services, "publish", boom)
    author = user_factory()
    # when creating a post / then the error propagates and nothing is stored
    with pytest.raises(UnknownEventType):
        services.post_create(author=author, content="#tag")
    assert Post.objects.count() == 0
    assert Hashtag.objects.count() == 0
