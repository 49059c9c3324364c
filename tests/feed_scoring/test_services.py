"""feed.services and feed.tasks: scores from the database state, distinct engagers, removal,
idempotency, threshold publishing of content_score.updated, the periodic recompute."""

from datetime import UTC, datetime, timedelta

import pytest

from bellamy.events.envelope import Envelope
from bellamy.events.models import OutboxEvent, ProcessedEvent
from bellamy.events.routes import ROUTES, SCORING_ROUTES, Route
from bellamy.events.services import publish
from feed import scoring, services
from feed.models import ContentScore
from posts import services as post_services
from posts.models import Post
from tests.feed_scoring.helpers import deliver, events
from tests.posts.factories import PostFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


def _post(author, *, age_hours: float = 1.0) -> Post:
    """A public post by ``author`` created ``age_hours`` before NOW."""
    return PostFactory(author=author, created_at=NOW - timedelta(hours=age_hours))


def _components(post: Post) -> tuple:
    row = ContentScore.objects.get(post=post)
    return (row.likes, row.comments, row.commenters, row.distinct_engagers, row.age_hours, row.computed_at)


def test_scoring_routes_name_registered_tasks_on_the_scoring_queue():
    import feed.tasks  # noqa: F401
    from bellamy.celery import app

    # given the scoring block / then every reacting event maps to the one rescore task on
    # "scoring" (a batch of any of them is one task)
    rescore = (Route("feed.rescore_posts_task", "scoring"),)
    assert SCORING_ROUTES == {
        event_type: rescore for event_type in (
            "post.created", "post.liked", "post.unliked", "comment.created", "post.deleted", "post.moderated")
    }
    for event_type, routes in SCORING_ROUTES.items():
        assert set(routes) <= set(ROUTES[event_type])
        assert all(route.task in app.tasks for route in routes)


def test_one_user_liking_and_commenting_counts_once(user_factory):
    # given a post liked by A and B, commented twice by A and once by its author
    author, a, b = user_factory(), user_factory(), user_factory()
    post = _post(author, age_hours=1)
    post_services.post_like(post=post, user=a)
    post_services.post_like(post=post, user=b)
    post_services.post_like(post=post, user=author)
    post_services.comment_create(post=post, author=a, content="one")
    post_services.comment_create(post=post, author=a, content="two")
    post_services.comment_create(post=post, author=author, content="thanks")
    # when it is scored at NOW
    row = services.content_score_refresh(post_id=post.id, now=NOW)
    # then likes/comments count every row, but engagers are A and B once each (author excluded)
    assert _components(post) == (3, 3, 1, 2, 1.0, NOW)
    # and the score is hot_rank(2 + 0.5 * 1, 1h)
    assert row.score == scoring.hot_rank(engagement=2.5, age_hours=1.0)
    assert ContentScore.objects.get(post=post).score == row.score


def test_deleted_comments_and_removed_likes_do_not_count(user_factory):
    # given A's like (then unlike) and B's comment (then deleted)
    author, a, b = user_factory(), user_factory(), user_factory()
    post = _post(author)
    post_services.post_like(post=post, user=a)
    post_services.post_unlike(post=post, user=a)
    comment = post_services.comment_create(post=post, author=b, content="hi")
    post_services.comment_delete(comment=comment, user=b)
    # when scored / then nothing counts
    row = services.content_score_refresh(post_id=post.id, now=NOW)
    assert _components(post) == (0, 0, 0, 0, 1.0, NOW)
    assert row.score == scoring.hot_rank(engagement=0, age_hours=1.0)


def test_deleted_and_moderated_posts_score_zero_and_recover(user_factory):
    # given a liked post with a score
    author, a = user_factory(), user_factory()
    post = _post(author)
    post_services.post_like(post=post, user=a)
    first = services.content_score_refresh(post_id=post.id, now=NOW).score
    assert first > 0
    # when moderators hide it / then its score is 0.0 (row kept)
    Post.objects.filter(pk=post.pk).update(moderation_state="hidden")
    assert services.content_score_refresh(post_id=post.id, now=NOW).score == 0.0
    # when it is made visible again / then the score comes back
    Post.objects.filter(pk=post.pk).update(moderation_state="visible")
    assert services.content_score_refresh(post_id=post.id, now=NOW).score == first
    # when the author deletes it / then 0.0 again
    post_services.post_delete(post=post, user=author)
    assert services.content_score_refresh(post_id=post.id, now=NOW).score == 0.0
    assert ContentScore.objects.count() == 1


def test_missing_post_removes_its_score(user_factory):
    # given a scored post that is then hard-deleted (admin)
    post = _post(user_factory())
    services.content_score_refresh(post_id=post.id, now=NOW)
    post_id = post.id
    Post.objects.filter(pk=post_id).delete()
    # when refreshed / then None and no row
    assert services.content_score_refresh(post_id=post_id, now=NOW) is None
    assert ContentScore.objects.count() == 0


def test_threshold_publishing_of_content_score_updated(user_factory):
    # given a post scored once (no event for a first score)
    author = user_factory()
    likers = [user_factory() for _ in range(12)]
    post = _post(author, age_hours=1)
    services.content_score_refresh(post_id=post.id, now=NOW)
    assert events("content_score.updated") == []
    scores = [ContentScore.objects.get(post=post).score]
    # when users like it one at a time, rescored at NOW each time
    for user in likers:
        post_services.post_like(post=post, user=user)
        scores.append(services.content_score_refresh(post_id=post.id, now=NOW).score)
    # then an event is published exactly when the change exceeds 10 % of the previous score
    # (log10(3+e) grows 26 %, 16 %, 11 %, 9 % ... so the first three likes publish)
    expected_scores = [scoring.hot_rank(engagement=e, age_hours=1.0) for e in range(13)]
    assert scores == expected_scores
    assert events("content_score.updated") == [
        {"post_id": post.id, "author_id": author.id, "score": expected_scores[i + 1], "previous_score": expected_scores[i]}
        for i in range(3)
    ]
    row = OutboxEvent.objects.filter(type="content_score.updated").first()
    assert row.key == str(author.id)


def test_tasks_from_real_events_and_idempotency(user_factory):
    # given a post created, liked and commented through the posts services
    author, a, b = user_factory(), user_factory(), user_factory()
    post = post_services.post_create(author=author, content="hello #world")
    post_services.post_like(post=post, user=a)
    post_services.comment_create(post=post, author=b, content="nice")
    # when the scoring worker receives the published events
    last = deliver(SCORING_ROUTES)
    # then the score reflects two distinct engagers, one of them a commenter
    row = ContentScore.objects.get(post=post)
    assert (row.likes, row.comments, row.commenters, row.distinct_engagers) == (1, 1, 1, 2)
    assert row.score == scoring.hot_rank(engagement=2.5, age_hours=row.age_hours)
    assert ProcessedEvent.objects.filter(task_name__startswith="feed.").count() == 3
    # when the same events are delivered again (redelivery)
    before = (ContentScore.objects.values_list("post_id", "score", "computed_at").get(), OutboxEvent.objects.count())
    deliver(SCORING_ROUTES)
    # then nothing changes: no recompute, no new event, no new record
    assert (ContentScore.objects.values_list("post_id", "score", "computed_at").get(), OutboxEvent.objects.count()) == before
    assert ProcessedEvent.objects.filter(task_name__startswith="feed.").count() == 3
    # when the post is moderated (event) / then its score is 0 and a change event is published
    Post.objects.filter(pk=post.pk).update(moderation_state="removed")
    publish("post.moderated", key=author.id, data={"post_id": post.id, "author_id": author.id, "action": "remove", "moderator_id": a.id})
    deliver(SCORING_ROUTES, after_id=last)
    assert ContentScore.objects.get(post=post).score == 0.0
    assert events("content_score.updated")[-1] == {
        "post_id": post.id, "author_id": author.id, "score": 0.0, "previous_score": row.score,
    }


def test_periodic_recompute_is_bounded_and_skips_old_and_removed_posts(user_factory):
    # given 5 young scored posts (stale), a young unscored one, an 8-day-old one and a deleted one
    author = user_factory()
    young = [_post(author, age_hours=h) for h in (1, 2, 3, 4, 5)]
    for post in young:
        services.content_score_refresh(post_id=post.id, now=NOW - timedelta(hours=1))
    unscored = _post(author, age_hours=6)
    old = _post(author, age_hours=8 * 24)
    services.content_score_refresh(post_id=old.id, now=NOW - timedelta(hours=1))
    deleted = _post(author, age_hours=2)
    services.content_score_refresh(post_id=deleted.id, now=NOW - timedelta(hours=1))
    Post.objects.filter(pk=deleted.pk).update(deleted_at=NOW)
    # when one bounded batch of 2 runs / then exactly 2 stale rows (the stalest) plus up to 2 unscored
    assert services.content_scores_recompute_recent(now=NOW, batch_size=2, max_batches=1) == 3
    # when run to completion / then every young post is rescored at NOW, old and deleted are not
    assert services.content_scores_recompute_recent(now=NOW, batch_size=2, max_batches=10) == 3
    computed = dict(ContentScore.objects.values_list("post_id", "computed_at"))
    assert {p.id for p in [*young, unscored] if computed[p.id] == NOW} == {p.id for p in [*young, unscored]}
    assert computed[old.id] == computed[deleted.id] == NOW - timedelta(hours=1)
    # and a further run finds nothing to do
    assert services.content_scores_recompute_recent(now=NOW, batch_size=2, max_batches=10) == 0


# --- batches ----------------------------------------------------------------------------------
def _created(post) -> dict:
    return Envelope(type="post.created", key=str(post.author_id),
                    data={"post_id": post.pk, "author_id": post.author_id}).to_dict()


def test_a_batch_rescores_its_distinct_posts_and_skips_what_was_handled(user_factory):
    # given two posts, one liked; the like's event already handled on its own
    from feed.tasks import rescore_posts_task

    author, fan = user_factory(), user_factory()
    p1, p2 = _post(author), _post(author)
    post_services.post_like(post=p1, user=fan)
    liked = Envelope(type="post.liked", key=str(author.pk),
                     data={"post_id": p1.pk, "author_id": author.pk, "user_id": fan.pk}).to_dict()
    rescore_posts_task([liked])
    # when a batch repeats it, with both posts' post.created and p1 twice
    result = rescore_posts_task([_created(p1), liked, _created(p2), _created(p1)])
    # then each post is scored once from the database (p1 with its like); the repeat is skipped
    assert set(result) == {p1.pk, p2.pk}
    assert ContentScore.objects.get(post=p1).likes == 1
    assert ContentScore.objects.get(post=p2).likes == 0
    assert ProcessedEvent.objects.filter(task_name="feed.rescore_posts_task").count() == 4


def test_rescore_statements_do_not_grow_with_the_batch(user_factory):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from feed.tasks import rescore_posts_task

    author = user_factory()
    posts = [_post(author) for _ in range(52)]

    def statements(batch) -> int:
        with CaptureQueriesContext(connection) as captured:
            rescore_posts_task([_created(p) for p in batch])
        return len(captured)

    # a batch of 2 post.created and a batch of 50 cost the same statements: claim, lock, previous
    # scores, components, one upsert (plus the savepoints)
    assert statements(posts[:2]) == statements(posts[2:])
    assert ContentScore.objects.count() == 52
