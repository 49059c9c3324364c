"""``manage.py demo_run`` and the dataset importers on a slice of the real data (issue 11).

The expected numbers are computed here from the raw files with plain Python (csv, gzip,
hashlib, json, re) — not with the importers' helpers — and compared exactly with what the
commands stored. Runs on PostgreSQL with the in-process bus and eager Celery (the test
settings). The full ego-Facebook graph is loaded (tweets map onto any of its 4,039 nodes);
tweets and messages are slices.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import tempfile
import unicodedata
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from bellamy.events.models import OutboxEvent, ProcessedEvent
from demo import importers
from feed.models import ContentScore
from graph.models import Friendship
from graph.stores import get_graph_store
from posts.models import Like, Post, PostHashtag

DATASETS = importers.datasets_dir()
TWEETS = 200
MESSAGES = 500
HALF_LIFE = 14 * 86400.0


@pytest.fixture(autouse=True)
def _embedded_pipeline(settings):
    """In-process bus, eager Celery, ORM stores (whatever the environment says)."""
    settings.BELLAMY_EVENTS = {"BACKEND": "bellamy.events.backends.inprocess.InProcessBus", "OPTIONS": {}}
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.BELLAMY_GRAPH = {"BACKEND": "graph.stores.orm.OrmGraphStore", "OPTIONS": {}}
    settings.BELLAMY_NOTIFICATIONS = {"BACKEND": "notifications.stores.orm.OrmNotificationStore", "OPTIONS": {}}


# --- the raw data, read with plain Python -------------------------------------------------------


def raw_edges() -> tuple[set[int], set[tuple[int, int]]]:
    nodes, edges = set(), set()
    with open(DATASETS / "ego_facebook" / "facebook_combined.txt") as handle:
        for line in handle:
            a, b = map(int, line.split())
            nodes |= {a, b}
            edges.add((min(a, b), max(a, b)))
    return nodes, edges


def raw_tweets(n: int) -> list[dict]:
    with gzip.open(DATASETS / "posts" / "pfizer_vaccine_tweets.csv.gz", "rt", encoding="utf-8", newline="") as handle:
        return [row for _i, row in zip(range(n), csv.DictReader(handle))]


def raw_messages(n: int) -> list[tuple[int, int, int]]:
    with gzip.open(DATASETS / "interactions" / "CollegeMsg.txt.gz", "rt") as handle:
        return [tuple(map(int, line.split())) for _i, line in zip(range(n), handle)]


def node_of_author(author_id: str) -> int:
    return int(hashlib.sha256(author_id.encode()).hexdigest(), 16) % 4039


def valid_tags(raw: str) -> list[str]:
    tags: list[str] = []
    for tag in json.loads(raw):
        name = unicodedata.normalize("NFC", tag).casefold()
        if re.fullmatch(r"\w+", name) and any(c.isalpha() for c in name) and len(name) <= 100 and name not in tags:
            tags.append(name)
    return tags


def expected_likers(row: dict, friends: dict[int, set[int]]) -> list[int]:
    """Friend nodes liking a tweet: first min(favorites, degree) by sha256(post_id:fb<node>)."""
    candidates = sorted(friends[node_of_author(row["author_id"])],
                        key=lambda n: hashlib.sha256(f"{row['post_id']}:fb{n}".encode()).hexdigest())
    return candidates[:int(row["favorites"])]


def message_pairs(messages) -> set[tuple[int, int]]:
    mapped = {((s * 2654435761) % 4039, (d * 2654435761) % 4039) for s, d, _t in messages}
    return {(a, b) for a, b in mapped if a != b}


def run_demo(**options) -> str:
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as reports:
        call_command("demo_run", subset=TWEETS, messages=MESSAGES, no_progress=True, no_analytics=True,
                     report_dir=Path(reports), stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


# --- the demo on a slice ----------------------------------------------------------------------


@pytest.mark.django_db
def test_demo_run_on_a_slice_stores_exactly_what_the_raw_files_say_and_is_idempotent():
    # given: the raw files read with plain Python
    nodes, edges = raw_edges()
    friends: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        friends[a].add(b)
        friends[b].add(a)
    tweets = raw_tweets(TWEETS)
    like_pairs = {(liker, node_of_author(row["author_id"])) for row in tweets for liker in expected_likers(row, friends)}
    expected_likes = sum(min(int(row["favorites"]), len(friends[node_of_author(row["author_id"])])) for row in tweets)
    expected_links = sum(len(valid_tags(row["hashtags"])) for row in tweets)
    pairs = message_pairs(raw_messages(MESSAGES))

    # when: the demo runs with no live posts (bulk load + backfills only)
    output = run_demo(live_posts=0)

    # then: users, friendships, posts, hashtag links, likes and weights are exactly those
    User = get_user_model()
    assert (len(nodes), len(edges), len(tweets)) == (4039, 88234, 200)
    assert User.objects.count() == 4039
    assert Friendship.objects.count() == 88234
    assert Post.objects.count() == 200
    assert PostHashtag.objects.count() == expected_links == 438
    assert Like.objects.count() == expected_likes == 709
    assert sum(Post.objects.values_list("like_count", flat=True)) == expected_likes
    assert ContentScore.objects.count() == 200
    ids = dict(User.objects.values_list("username", "id"))
    stored_likes = {(ids[f"fb{l}"], ids[f"fb{a}"]) for l, a in like_pairs}
    assert set(Like.objects.values_list("user_id", "post__author_id")) == stored_likes
    assert len(pairs) == 325
    assert get_graph_store().stats() == {"users": 4039, "friendships": 88234,
                                         "interactions": len(like_pairs | pairs)}
    # nothing went through the event pipeline
    assert OutboxEvent.objects.count() == 0
    assert ProcessedEvent.objects.count() == 0
    assert "SUBSET: the first 200 of 9,214" in output
    assert "top 10 trending hashtags as of the newest imported post (2020-12-14T09:56:08+00:00)" in output

    # when: it runs again
    run_demo(live_posts=0)

    # then: nothing new
    assert (User.objects.count(), Friendship.objects.count(), Post.objects.count(), PostHashtag.objects.count(),
            Like.objects.count()) == (4039, 88234, 200, expected_links, expected_likes)
    assert get_graph_store().stats()["interactions"] == len(like_pairs | pairs)


@pytest.mark.django_db(transaction=True)
def test_live_posts_go_through_the_services_and_every_event_is_processed(tmp_path):
    # given: the raw slice
    _nodes, edges = raw_edges()
    friends: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        friends[a].add(b)
        friends[b].add(a)
    tweets = raw_tweets(20)
    live = tweets[-5:]
    live_likes = sum(len(expected_likers(row, friends)) for row in live)
    all_likes = sum(len(expected_likers(row, friends)) for row in tweets)

    # when: the newest 5 of 20 tweets go live
    out = io.StringIO()
    call_command("demo_run", subset=20, messages=50, live_posts=5, no_progress=True, no_analytics=True,
                 report_dir=tmp_path, stdout=out, stderr=io.StringIO())

    # then: 5 post.created and one post.liked per like, all sent and handled
    assert Post.objects.count() == 20
    assert Like.objects.count() == all_likes
    types = list(OutboxEvent.objects.values_list("type", flat=True))
    assert sorted(set(types)) == (["content_score.updated", "post.created", "post.liked"]
                                  if "content_score.updated" in types else ["post.created", "post.liked"])
    assert types.count("post.created") == 5
    assert types.count("post.liked") == live_likes
    assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == 0
    handled = set(ProcessedEvent.objects.values_list("event_id", flat=True))
    assert {e for e, t in OutboxEvent.objects.values_list("event_id", "type") if t != "content_score.updated"} <= handled
    # and: the live posts keep the tweet's time, in the row and in the event
    newest = live[-1]
    created = datetime.strptime(newest["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    post = Post.objects.get(author__username=f"fb{node_of_author(newest['author_id'])}", created_at=created)
    payload = OutboxEvent.objects.get(type="post.created", payload__data__post_id=post.pk).payload
    assert payload["data"]["created_at"] == newest["created_at"]
    # and: the reports were written beside each other; every event and task run of the run is
    # attributed to the live stage in the HTML report, and the bulk stages published nothing
    text, html = (tmp_path / "report.txt").read_text(), (tmp_path / "report.html").read_text()
    assert text.strip() in out.getvalue()
    assert f"report written to {tmp_path / 'report.txt'} and {tmp_path / 'report.html'}" in out.getvalue()
    published = re.search(r'data-chart="flow-published">(.*?)</svg>', html, re.S).group(1)
    assert f"<title>4 live posts through the pipeline: {len(types)}</title>" in published
    assert "<title>2 tweets bulk load: 0</title>" in published
    handled_chart = re.search(r'data-chart="flow-handled">(.*?)</svg>', html, re.S).group(1)
    assert f"<title>4 live posts through the pipeline: {ProcessedEvent.objects.count()}</title>" in handled_chart


# --- importers: weights, idempotency, errors ----------------------------------------------------


@pytest.mark.django_db
def test_collegemsg_weights_are_decayed_as_of_the_newest_message_and_stamped_at_import():
    # given: the users of the first 30 messages' nodes
    messages = raw_messages(30)
    nodes = {(u * 2654435761) % 4039 for s, d, _t in messages for u in (s, d)}
    User = get_user_model()
    User.objects.bulk_create([User(username=f"fb{n}") for n in nodes])
    ids = dict(User.objects.values_list("username", "id"))
    now = datetime(2026, 1, 1, tzinfo=UTC)

    # when
    result = importers.import_interactions(messages, now=now)

    # then: each pair = sum of 2.0 * 0.5 ** ((newest - ts) / 14 days), read back at the stamp
    newest = max(t for _s, _d, t in messages)
    expected: dict[tuple[int, int], float] = defaultdict(float)
    for s, d, t in messages:
        a, b = (s * 2654435761) % 4039, (d * 2654435761) % 4039
        if a != b:
            expected[(a, b)] += 2.0 * 0.5 ** ((newest - t) / HALF_LIFE)
    assert result.pairs == len(expected)
    store = get_graph_store()
    for (a, b), weight in expected.items():
        assert store.weight(ids[f"fb{a}"], ids[f"fb{b}"], at=now) == round(weight, 6)
    # and: two weeks later every weight has halved (it was stamped at import, not in 2004)
    a, b = next(iter(expected))
    assert store.weight(ids[f"fb{a}"], ids[f"fb{b}"], at=now + timedelta(days=14)) == round(expected[(a, b)] / 2, 6)

    # when: imported again, then: the same values (not doubled)
    importers.import_interactions(messages, now=now)
    assert store.weight(ids[f"fb{a}"], ids[f"fb{b}"], at=now) == round(expected[(a, b)], 6)


@pytest.mark.django_db
def test_tweets_import_refuses_when_ego_facebook_is_missing_and_writes_nothing():
    # given: no users; when / then
    with pytest.raises(CommandError, match="import ego-Facebook first"):
        call_command("posts_import_tweets", limit=10, no_progress=True, stdout=io.StringIO())
    assert Post.objects.count() == 0


@pytest.mark.django_db
def test_tweets_import_dry_run_counts_and_writes_nothing():
    # given: every ego-Facebook user exists, no friendships
    User = get_user_model()
    User.objects.bulk_create([User(username=f"fb{n}") for n in range(4039)])
    tweets = raw_tweets(50)
    out = io.StringIO()

    # when
    call_command("posts_import_tweets", limit=50, dry_run=True, no_progress=True, stdout=out)

    # then
    links = sum(len(valid_tags(row["hashtags"])) for row in tweets)
    authors = len({node_of_author(row["author_id"]) for row in tweets})
    assert out.getvalue().strip() == (f"would import 50 tweets by {authors} users: 50 posts created, 0 already there, "
                                       f"{links} hashtag links, 0 likes in " + out.getvalue().split(" likes in ")[1].strip())
    assert Post.objects.count() == 0
    assert PostHashtag.objects.count() == 0


def test_mappings_are_the_documented_formulas():
    assert importers.author_node("u_24ad1cbd38") == int(hashlib.sha256(b"u_24ad1cbd38").hexdigest(), 16) % 4039
    assert [importers.message_node(u) for u in (1, 2, 1899)] == [922, 1844, (1899 * 2654435761) % 4039]
    assert len({importers.message_node(u) for u in range(1, 1900)}) == 1899
    assert importers.tweet_hashtags('["COVID-19", "Pfizer", "pfizer", "123", "CovidVaccine"]') == ("pfizer", "covidvaccine")
