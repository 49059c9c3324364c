"""An erasure that races with a burst of the user's own writes in flight: threads keep
creating posts, liking and commenting as the user (the requests that had passed
authentication before the account went away) while the account is erased and every store's
handler runs. On the real PostgreSQL and Redis, with the in-process bus: every write either
committed before the erasure's row lock (and is erased by the handlers), commits while the husk
exists (and goes with it at completion, its events ignored by the workers' guards), or is
refused because the row is gone. Nothing of the user remains, on either store backend.
"""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection

from bellamy.accounts import lifecycle
from notifications.stores import get_notification_store
from bellamy.events.services import relay_all_pending
from posts import services as post_services
from posts.services import AccountInactive
from posts.models import Post
from tests.accounts.world import befriend, graph_footprint, pg_footprint, redis_keys
from trends.models import TrendContribution

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 3
ROUNDS = 15


def test_erasure_racing_a_burst_of_the_users_writes_leaves_nothing(stores, user_factory, settings):
    leaver, ann = user_factory(username="leaver"), user_factory(username="ann")
    befriend(leaver, ann)
    target = post_services.post_create(author=ann, content="Target #racehash")
    user_model = type(leaver)
    started, erased = threading.Barrier(WRITERS + 1), threading.Event()
    outcomes: list[str] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        author = user_model.objects.get(pk=leaver.pk)  # loaded before the erasure, like an authenticated request
        started.wait()
        try:
            for i in range(ROUNDS):
                try:
                    post_services.post_create(author=author, content=f"burst {n}.{i} #racehash @ann")
                    if i % 3 == 0:
                        post_services.post_like(post=target, user=author)
                    if i % 5 == 0:
                        post_services.comment_create(post=target, author=author, content=f"hi {n}.{i}")
                    outcome = "written"
                except AccountInactive:
                    outcome = "refused"  # committed after the erasure: rolled back
                except IntegrityError:
                    outcome = "refused"  # the row was gone: the foreign key refuses the write
                with lock:
                    outcomes.append("after" if erased.is_set() else "before")
                    outcomes.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    started.wait()
    assert lifecycle.account_erase(user_id=leaver.pk, force=True) is not None
    erased.set()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    # the events the writers' relays skipped while another relay held them (SKIP LOCKED), as
    # the background relay would pick them up
    relay_all_pending()
    assert lifecycle.account_erasures_complete() == [leaver.pk]

    # the burst really overlapped the erasure: likes and comments in flight when it committed
    # were refused (posts are not checked: hidden at once, deleted with the account's row)
    assert len(outcomes) == 2 * WRITERS * ROUNDS
    results = outcomes[1::2]
    assert "refused" in results
    assert pg_footprint(leaver.pk) == {}
    assert not Post.objects.filter(author_id=leaver.pk).exists()
    store = get_notification_store()
    records = [record for batch in store.export_batches() for record in batch]
    assert [(r.recipient_id, r.type) for r in records if leaver.pk in r.actors or r.recipient_id == leaver.pk] == []
    assert graph_footprint(leaver.pk) == {"friends": 0, "weights_out": 0}
    assert redis_keys(leaver.pk) == []
    # ann's post keeps only ann's contribution to #racehash, and no engagement from the leaver
    assert list(TrendContribution.objects.filter(hashtag__name="racehash").values_list("author_id", flat=True)) == [ann.pk]
    target.refresh_from_db()
    assert (target.like_count, target.comment_count) == (0, 0)
