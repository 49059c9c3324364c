"""manage.py feed_backfill_scores: exact rows, batches, --since, --dry-run, bad input."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from feed import scoring, services
from feed.models import ContentScore
from posts.models import Comment, Like
from tests.posts.factories import PostFactory

pytestmark = pytest.mark.django_db


def _world(user_factory):
    """Three posts: p1 (2 likers, 1 commenter who also liked), p2 (nothing, deleted), p3 (new)."""
    author, a, b = user_factory(), user_factory(), user_factory()
    old = datetime(2024, 1, 1, tzinfo=UTC)
    p1 = PostFactory(author=author, created_at=old)
    p2 = PostFactory(author=author, created_at=old + timedelta(days=1), deleted_at=old + timedelta(days=2))
    p3 = PostFactory(author=author, created_at=old + timedelta(days=3))
    Like.objects.create(post=p1, user=a)
    Like.objects.create(post=p1, user=b)
    Comment.objects.create(post=p1, author=a, content="x")
    Comment.objects.create(post=p1, author=a, content="y")
    return p1, p2, p3


def _rows():
    return list(
        ContentScore.objects.order_by("post_id").values_list("post_id", "likes", "comments", "commenters", "distinct_engagers")
    )


def test_backfill_writes_exact_rows_in_batches(user_factory):
    # given three posts
    p1, p2, p3 = _world(user_factory)
    out, err = StringIO(), StringIO()
    # when the backfill runs with batches of 2
    call_command("feed_backfill_scores", "--batch-size", "2", stdout=out, stderr=err)
    # then every post has its components, the deleted one a zero score
    assert _rows() == [(p1.id, 2, 2, 1, 2), (p2.id, 0, 0, 0, 0), (p3.id, 0, 0, 0, 0)]
    scores = dict(ContentScore.objects.values_list("post_id", "score"))
    row1 = ContentScore.objects.get(post=p1)
    assert scores[p1.id] == scoring.hot_rank(engagement=2.5, age_hours=row1.age_hours)
    assert scores[p2.id] == 0.0
    # and a summary line is printed, the progress bar goes to stderr
    assert out.getvalue().startswith("scored 3 posts (1 deleted/moderated at 0) in 2 batches, ")
    assert "3/3" in err.getvalue()
    # when run again / then the same rows (upsert, no duplicates)
    call_command("feed_backfill_scores", stdout=StringIO(), stderr=StringIO())
    assert _rows() == [(p1.id, 2, 2, 1, 2), (p2.id, 0, 0, 0, 0), (p3.id, 0, 0, 0, 0)]


def test_backfill_since_and_dry_run(user_factory):
    p1, p2, p3 = _world(user_factory)
    # when a dry run / then nothing is written but the count is reported
    out = StringIO()
    call_command("feed_backfill_scores", "--dry-run", stdout=out, stderr=StringIO())
    assert ContentScore.objects.count() == 0
    assert out.getvalue().startswith("dry run: would score 3 posts (1 deleted/moderated at 0) in 1 batches")
    # when --since the third day / then only p3 is scored
    call_command("feed_backfill_scores", "--since", "2024-01-03", "--no-progress", stdout=StringIO())
    assert _rows() == [(p3.id, 0, 0, 0, 0)]


@pytest.mark.parametrize("args", [["--batch-size", "0"], ["--since", "yesterday"], ["--since", "2024-13-01"]])
def test_backfill_bad_arguments_write_nothing(user_factory, args):
    _world(user_factory)
    with pytest.raises(CommandError):
        call_command("feed_backfill_scores", *args, stdout=StringIO(), stderr=StringIO())
    assert ContentScore.objects.count() == 0


def test_backfill_query_count_does_not_grow_with_posts(user_factory):
    # given 2 posts, then 20 posts, each with likes
    def run() -> int:
        with CaptureQueriesContext(connection) as ctx:
            services.content_scores_backfill(batch_size=100)
        return len(ctx.captured_queries)

    author, liker = user_factory(), user_factory()
    for _ in range(2):
        Like.objects.create(post=PostFactory(author=author), user=liker)
    two = run()
    for _ in range(18):
        Like.objects.create(post=PostFactory(author=author), user=liker)
    twenty = run()
    # then one components query + one upsert (in a savepoint) per batch, whatever the size
    assert two == twenty == 5
    assert ContentScore.objects.filter(distinct_engagers=1).count() == 20
