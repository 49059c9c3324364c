"""The trending worker's sync locks its posts' rows and nothing else, on the real PostgreSQL.

A sync reads each post's author through a join. When its locking read also locked the authors'
rows (``FOR UPDATE`` without ``OF``), an author's next post — whose foreign key takes a share
lock on the author's row at commit — waited for the sync, and two syncs locking their authors
in different orders deadlocked with it: the Redis restart drill refused a post with a 500
(``DeadlockDetected`` while locking an ``accounts_user`` row) and retried a sync. These tests
hold a sync inside its transaction, right after its locking read, and write beside it.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from posts import services as post_services
from posts.models import Post
from tests.trends.helpers import buckets, make_post
from trends.services import SyncResult, posts_trend_sync

pytestmark = pytest.mark.django_db(transaction=True)

LOCK_TIMEOUT = "3s"  # a write that waits for the held sync fails with LockNotAvailable instead


class HeldSync:
    """``posts_trend_sync(post_ids=...)`` in a thread of its own, held after its locking read
    until :meth:`finish`; its result (or exception) in :attr:`outcome`."""

    def __init__(self, post_ids: list[int]):
        self.locking_reads: list[str] = []
        self.outcome: SyncResult | BaseException | None = None
        self._locked, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, args=(post_ids,))

    def _hold_after_locking_read(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if " FOR UPDATE" in sql or " FOR NO KEY UPDATE" in sql:
            self.locking_reads.append(sql)
            self._locked.set()
            self._release.wait(timeout=60)
        return result

    def _run(self, post_ids: list[int]) -> None:
        try:
            with connection.execute_wrapper(self._hold_after_locking_read):
                self.outcome = posts_trend_sync(post_ids=post_ids)
        except BaseException as exc:  # reported by the test
            self.outcome = exc
        finally:
            self._locked.set()
            connection.close()

    def __enter__(self) -> HeldSync:
        self._thread.start()
        assert self._locked.wait(timeout=30)
        return self

    def __exit__(self, *exc_info) -> None:
        self.finish()

    def finish(self) -> None:
        self._release.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive()


def _with_lock_timeout(write):
    """Run ``write()`` in a transaction that gives up on a lock after :data:`LOCK_TIMEOUT`."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        return write()


def test_an_author_posts_while_a_sync_of_their_post_holds_its_lock(user_factory):
    # given a sync of ann's tagged post held inside its transaction, after its locking read
    ann = user_factory(username="ann")
    synced = make_post(ann, ["held"], timezone.now(), sync=False)
    with HeldSync([synced.id]) as sync:
        # when ann posts again meanwhile (the foreign key checks her row at commit)
        second = _with_lock_timeout(lambda: post_services.post_create(author=ann, content="meanwhile"))
        # then the post commits without waiting for the sync, which locked only the post
        assert Post.objects.filter(pk=second.pk, author=ann).exists()
        assert [sql.split(" FOR ")[1] for sql in sync.locking_reads] == ['NO KEY UPDATE OF "posts_post"']
    # and the sync completes with its contribution counted
    assert sync.outcome == SyncResult(added=1, removed=0)
    start = synced.created_at.replace(minute=0, second=0, microsecond=0)
    assert buckets() == {("held", start): (1, 1, [ann.pk])}


def test_a_batch_sync_held_over_three_authors_posts_lets_each_author_post(user_factory):
    # given a sync of one batch holding the tagged posts of three authors
    authors = [user_factory(username=name) for name in ("ann", "bob", "cyd")]
    now = timezone.now()
    batch = [make_post(author, ["batch"], now, sync=False) for author in reversed(authors)]
    with HeldSync([post.id for post in batch]) as held:
        # when each of the three authors posts meanwhile
        written = [
            _with_lock_timeout(lambda author=author: post_services.post_create(author=author, content="again"))
            for author in authors
        ]
    # then every post committed, and the sync counted the three posts once each
    assert sorted(Post.objects.filter(pk__in=[p.pk for p in written]).values_list("author_id", flat=True)) == sorted(
        a.pk for a in authors
    )
    assert held.outcome == SyncResult(added=3, removed=0)
    start = now.replace(minute=0, second=0, microsecond=0)
    assert buckets() == {("batch", start): (3, 3, sorted(a.pk for a in authors))}
