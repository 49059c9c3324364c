"""No change in results (issue 17): the same slice of the real-data demo's events, handled one
event at a time and then in batches (some partly handled), gives identical scores, trends,
weights, notifications and follow-up events — on the embedded stores and on the production ones
(Neo4j in a namespace of its own, MongoDB).

The slice: the first tweets of the demo's corpus as posts of their mapped ego-Facebook authors,
liked by the friends the demo chooses (``demo.importers.import_tweets_live``, the live path:
``post.created`` and ``post.liked`` through the services); the authors' ego-Facebook friendships
and the CollegeMsg weights among those users as the graph's starting state; plus unlikes,
comments with mentions, a friend request and its acceptance, an unfriending, a block and a
deletion. The clock is fixed while the events are handled (scores decay with age).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model

from bellamy.events.dispatch import dispatch_batch
from bellamy.events.envelope import Envelope
from bellamy.events.models import OutboxEvent, ProcessedEvent
from demo import importers
from feed.models import ContentScore
from graph import services as graph_services
from graph.models import Friendship
from graph.stores import get_graph_store
from notifications.stores import get_notification_store
from posts import services as post_services
from posts.models import Post
from trends.models import GlobalTrend, HashtagAuthorBucket, HashtagBucket, TrendContribution
from trends.services import global_trends_recompute_all
from tests.conftest import MONGO_URL

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db]

#: Tweets of the slice (oldest first in the corpus) and CollegeMsg messages read.
TWEETS = 25
#: When the events are made (the live phase) and when they are handled (fixed, both runs): two
#: days back, well inside MongoDB's notification TTL (which would otherwise expire them meanwhile).
LIVE = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
HANDLED = LIVE + timedelta(hours=9)
#: Batches of the second run: 25 events, each repeating the last 5 of the one before.
BATCH, OVERLAP = 25, 5


@pytest.fixture(params=["embedded", "production"])
def stores(request, settings, db):
    """The graph and notification stores of one backend pair."""
    if request.param == "embedded":
        settings.BELLAMY_GRAPH = {"BACKEND": "graph.stores.orm.OrmGraphStore", "OPTIONS": {}}
        settings.BELLAMY_NOTIFICATIONS = {"BACKEND": "notifications.stores.orm.OrmNotificationStore", "OPTIONS": {}}
        yield request.param
        return
    from tests.graph_store.conftest import neo4j_spec, neo4j_store

    graph = neo4j_store()
    database = f"bellamy_test_batches_{uuid.uuid4().hex[:12]}"
    settings.BELLAMY_GRAPH = neo4j_spec(graph.namespace)
    settings.BELLAMY_NOTIFICATIONS = {"BACKEND": "notifications.stores.mongo.MongoNotificationStore",
                                      "OPTIONS": {"url": MONGO_URL, "database": database}}
    try:
        yield request.param
    finally:
        graph.clear(force=True)
        get_notification_store().client.drop_database(database)


def graph_start(rows) -> tuple[list[tuple[int, int]], list[tuple[int, int, int]], list[int]]:
    """Users ``fb<node>`` of the authors and their friends, the authors' friendships
    (PostgreSQL + store), and the CollegeMsg messages among those users. Returns ``(friend
    pairs, messages, user ids)``."""
    authors = {importers.author_node(row.author_id) for row in rows}
    with open(importers.dataset_path(importers.EDGES_FILE)) as handle:
        edges = [tuple(int(n) for n in line.split()) for line in handle if line.strip()]
    edges = [(a, b) for a, b in edges if a in authors or b in authors]
    nodes = sorted({n for edge in edges for n in edge} | authors)
    User = get_user_model()
    User.objects.bulk_create([User(username=importers.node_username(n), email=f"fb{n}@example.org", password="!")
                              for n in nodes])
    ids = dict(User.objects.filter(username__startswith="fb").values_list("username", "id"))
    uid = {n: ids[importers.node_username(n)] for n in nodes}
    pairs = sorted({tuple(sorted((uid[a], uid[b]))) for a, b in edges})
    Friendship.objects.bulk_create([Friendship(user_low_id=low, user_high_id=high) for low, high in pairs])
    messages = [m for m in importers.read_messages(importers.dataset_path(importers.MESSAGES_FILE))
                if importers.message_node(m[0]) in uid and importers.message_node(m[1]) in uid]
    return pairs, messages, sorted(uid.values())


def reset_graph(pairs, messages) -> None:
    """The graph store's starting state: the friend edges and the CollegeMsg weights."""
    store = get_graph_store()
    store.clear(force=True)
    store.bulk_add_friendships(pairs)
    importers.import_interactions(messages, now=LIVE - timedelta(days=1))


def live_events(rows, user_ids) -> list[Envelope]:
    """Make the slice's events through the services (the clock moving), return them in order."""
    User = get_user_model()
    with time_machine.travel(LIVE, tick=False) as clock:
        for row in rows:
            importers.import_tweets_live([row])
            clock.shift(timedelta(minutes=3))
        posts = list(Post.objects.order_by("id"))
        users = {u.id: u for u in User.objects.filter(id__in=user_ids)}
        fans = sorted({like.user_id for post in posts for like in post.likes.all()})
        # unlikes, comments mentioning other users, a friendship made, one ended, a block, a delete
        for n, post in enumerate(posts[:12]):
            liker = post.likes.order_by("user_id").first()
            if liker:
                post_services.post_unlike(post=post, user=liker.user)
                clock.shift(timedelta(minutes=1))
            commenter = users[fans[n % len(fans)]]
            mentioned = users[fans[(n + 3) % len(fans)]]
            post_services.comment_create(post=post, author=commenter, content=f"agreed @{mentioned.username} #vaccine")
            clock.shift(timedelta(minutes=2))
        # one fan comments three times on the first post: 2.0 + 2.0 + 2.0 crosses the 5.0 threshold
        for n in range(3):
            post_services.comment_create(post=posts[0], author=users[fans[5]], content=f"and again ({n})")
            clock.shift(timedelta(minutes=1))
        a, b = users[fans[0]], users[fans[-1]]
        if not Friendship.objects.filter(user_low_id=min(a.id, b.id), user_high_id=max(a.id, b.id)).exists():
            request = graph_services.friend_request_send(from_user=a, to_user_id=b.id)
            graph_services.friend_request_accept(user=b, request_id=request.id)
        clock.shift(timedelta(minutes=5))
        friendship = Friendship.objects.order_by("id").first()
        graph_services.friendship_remove(user=users[friendship.user_low_id], friend_id=friendship.user_high_id)
        graph_services.block_create(blocker=posts[1].author, blocked_id=fans[1])
        post_services.post_delete(post=posts[2], user=posts[2].author)
    return [Envelope.from_dict(payload) for payload in OutboxEvent.objects.order_by("id").values_list("payload", flat=True)]


def snapshot(user_ids) -> dict:
    """Everything the workers derive, comparable across runs."""
    store = get_graph_store()
    at = HANDLED + timedelta(days=1)
    global_trends_recompute_all(as_of=HANDLED)
    followups = sorted(
        (row.type, sorted(row.payload["data"].items()))
        for row in OutboxEvent.objects.filter(type__in=["content_score.updated", "relationship_weight.updated"])
    )
    return {
        "scores": list(ContentScore.objects.order_by("post_id").values_list(
            "post_id", "score", "likes", "comments", "commenters", "distinct_engagers", "age_hours", "computed_at")),
        "contributions": sorted(TrendContribution.objects.values_list("post_id", "hashtag_id", "author_id", "bucket_start")),
        "buckets": sorted(HashtagBucket.objects.values_list("hashtag_id", "bucket_start", "uses", "authors")),
        "author_buckets": sorted(HashtagAuthorBucket.objects.values_list("hashtag_id", "bucket_start", "author_id")),
        "trends": sorted(GlobalTrend.objects.values_list("window", "rank", "hashtag_id", "score", "post_count",
                                                         "unique_authors")),
        "friends": {u: store.friend_ids(u) for u in user_ids},
        "weights": {u: store.top_relations(u, 100, at=at) for u in user_ids},
        "notifications": sorted(
            (r.recipient_id, r.type, r.actors, r.actor_count, r.post_id, r.comment_id, r.group_key, r.event_ids,
             r.created_at, r.updated_at)
            for batch in get_notification_store().export_batches() for r in batch
        ),
        "followups": followups,
    }


def forget_effects(last_event_id: int, pairs, messages) -> None:
    """Back to the state before any event was handled."""
    ContentScore.objects.all().delete()
    HashtagAuthorBucket.objects.all().delete()
    HashtagBucket.objects.all().delete()
    TrendContribution.objects.all().delete()
    GlobalTrend.objects.all().delete()
    ProcessedEvent.objects.all().delete()
    OutboxEvent.objects.filter(id__gt=last_event_id).delete()
    store = get_notification_store()
    for batch in list(store.export_batches()):
        for user in {r.recipient_id for r in batch}:
            store.delete_user(user)
    reset_graph(pairs, messages)


def test_batches_give_the_results_of_one_event_at_a_time(stores):
    rows = importers.read_tweets(importers.dataset_path(importers.TWEETS_FILE), limit=TWEETS)
    pairs, messages, user_ids = graph_start(rows)
    reset_graph(pairs, messages)
    events = live_events(rows, user_ids)
    last_event = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first()
    types = {e.type for e in events}
    assert {"post.created", "post.liked", "post.unliked", "comment.created", "friendship.removed",
            "user.blocked", "post.deleted"} <= types
    assert len(events) > 100

    # when: handled one event at a time
    with time_machine.travel(HANDLED, tick=False):
        for event in events:
            dispatch_batch([event])
        one_by_one = snapshot(user_ids)

    # and, from the same start, in batches of 25 that repeat the last 5 events of the previous
    # batch, then all of them once more (every event already handled)
    forget_effects(last_event, pairs, messages)
    assert get_notification_store().count() == 0
    with time_machine.travel(HANDLED, tick=False):
        for start in range(0, len(events), BATCH - OVERLAP):
            dispatch_batch(events[max(0, start - OVERLAP):start + BATCH - OVERLAP])
        dispatch_batch(events)
        batched = snapshot(user_ids)

    # then: identical, and not trivially so
    for name in one_by_one:
        assert batched[name] == one_by_one[name], name
    assert len(one_by_one["scores"]) == TWEETS
    assert len(one_by_one["notifications"]) > 100
    # (scores are recomputed from the final state in both runs, so they never move enough to
    # publish; the fan's third comment crosses the weight threshold in both)
    assert one_by_one["buckets"]
    assert {kind for kind, _data in one_by_one["followups"]} == {"relationship_weight.updated"}
    assert any(one_by_one["weights"].values())
