"""Keyset pagination reads only the page's rows, however deep (PostgreSQL plans).

Each list is filled with thousands of rows, a cursor deep into it is built the way the API
builds one (the ordering values of the row before the page), and the page's SQL — captured
from the real request — is run under ``EXPLAIN (ANALYZE, FORMAT JSON)``: the rows the plan
reads from the listed table must be the page (limit + 1 to know there is a next page), with
no sort and through the index matching the ordering.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bellamy.api.pagination import encode_cursor
from posts.models import Comment, Hashtag, Post, PostHashtag

pytestmark = pytest.mark.django_db

ROWS = 3000
LIMIT = 20


def analyze(sql: str) -> dict:
    """The root plan node of ``EXPLAIN (ANALYZE, FORMAT JSON) sql``."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        return cursor.fetchone()[0][0]["Plan"]


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def rows_read(plan: dict, table: str) -> int:
    """Rows the plan's scans of ``table`` produced or filtered out, over all loops."""
    return sum(
        (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * node.get("Actual Loops", 1)
        for node in nodes(plan)
        if node.get("Relation Name") == table
    )


def index_scans(plan: dict, table: str) -> set[str]:
    return {node["Index Name"] for node in nodes(plan) if node.get("Relation Name") == table and "Index Name" in node}


def page_sql(client, url: str, table: str) -> tuple[dict, str]:
    """The response body and the SQL of the request's query on ``table`` (the page query)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    listing = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"]
               and "ORDER BY" in q["sql"]]
    assert len(listing) == 1, listing
    return response.json(), listing[0]


def assert_reads_only_the_page(sql: str, table: str, index: str) -> None:
    plan = analyze(sql)
    assert rows_read(plan, table) == LIMIT + 1
    assert index_scans(plan, table) == {index}
    assert not [node for node in nodes(plan) if node["Node Type"] in ("Sort", "Incremental Sort")]


@pytest.fixture
def times():
    now = timezone.now()
    # Two rows share each second: the keyset must order ties by id, not skip or repeat them.
    return [now - timedelta(seconds=n // 2) for n in range(ROWS)]


def test_author_posts_deep_page_reads_only_its_rows(user_factory, client_for, times):
    author, reader = user_factory(), user_factory()
    other = user_factory()
    Post.objects.bulk_create([Post(author=author, content=f"p{n}", created_at=t) for n, t in enumerate(times)])
    Post.objects.bulk_create([Post(author=other, content=f"o{n}", created_at=t) for n, t in enumerate(times)])
    newest_first = list(Post.objects.filter(author=author).order_by("-created_at", "-id").values_list("created_at", "id"))
    cursor = encode_cursor(list(newest_first[2000 - 1]))
    body, sql = page_sql(client_for(reader), f"/api/Post/users/{author.id}?limit={LIMIT}&cursor={cursor}", "posts_post")
    assert [p["id"] for p in body["results"]] == [pk for _, pk in newest_first[2000:2000 + LIMIT]]
    assert_reads_only_the_page(sql, "posts_post", "posts_post_author_created")
    # page 1 costs the same
    _body, first = page_sql(client_for(reader), f"/api/Post/users/{author.id}?limit={LIMIT}", "posts_post")
    assert_reads_only_the_page(first, "posts_post", "posts_post_author_created")


def test_comments_deep_page_reads_only_its_rows(user_factory, client_for, times):
    author, reader = user_factory(), user_factory()
    post, other = Post.objects.create(author=author, content="x"), Post.objects.create(author=author, content="y")
    Comment.objects.bulk_create([Comment(post=post, author=reader, content=f"c{n}", created_at=t) for n, t in enumerate(times)])
    Comment.objects.bulk_create([Comment(post=other, author=reader, content=f"c{n}", created_at=t) for n, t in enumerate(times)])
    oldest_first = list(Comment.objects.filter(post=post).order_by("created_at", "id").values_list("created_at", "id"))
    cursor = encode_cursor(list(oldest_first[1500 - 1]))
    body, sql = page_sql(client_for(reader), f"/api/posts/{post.id}/comments?limit={LIMIT}&cursor={cursor}", "posts_comment")
    assert [c["id"] for c in body["results"]] == [pk for _, pk in oldest_first[1500:1500 + LIMIT]]
    assert_reads_only_the_page(sql, "posts_comment", "posts_comment_post_created")


def test_hashtag_posts_deep_page_reads_only_its_rows(user_factory, client_for, times):
    author, reader = user_factory(), user_factory()
    tag, noise = Hashtag.objects.create(name="deep"), Hashtag.objects.create(name="noise")
    posts = Post.objects.bulk_create([Post(author=author, content=f"#deep {n}", created_at=t) for n, t in enumerate(times)])
    PostHashtag.objects.bulk_create([PostHashtag(post=p, hashtag=h, created_at=p.created_at) for p in posts for h in (tag, noise)])
    newest_first = list(PostHashtag.objects.filter(hashtag=tag).order_by("-created_at", "-post_id")
                        .values_list("created_at", "post_id"))
    # 1,000 rows in, 2,000 after: with only a few hundred rows left after the cursor the
    # planner may rightly prefer reading them all and sorting.
    cursor = encode_cursor(list(newest_first[1000 - 1]))
    body, sql = page_sql(client_for(reader), f"/api/trends/hashtags/deep/posts?limit={LIMIT}&cursor={cursor}", "posts_post")
    assert [p["id"] for p in body["results"]] == [pk for _, pk in newest_first[1000:1000 + LIMIT]]
    plan = analyze(sql)
    assert rows_read(plan, "posts_posthashtag") == LIMIT + 1
    assert index_scans(plan, "posts_posthashtag") == {"posts_posthashtag_listing"}
    assert rows_read(plan, "posts_post") == LIMIT + 1
    assert not [node for node in nodes(plan) if node["Node Type"] in ("Sort", "Incremental Sort")]


def test_notifications_orm_store_deep_page_reads_only_its_rows(user_factory):
    from notifications.models import Notification
    from notifications.stores.orm import OrmNotificationStore

    recipient, other = user_factory(), user_factory()
    now = timezone.now()
    for user in (recipient, other):
        Notification.objects.bulk_create([
            Notification(recipient_id=user.id, type="post_liked", post_id=n, event_id=f"e{user.id}-{n}", actors=[other.id], actor_count=1,
                         created_at=now, updated_at=now - timedelta(seconds=n // 2), read_at=None if n % 3 else now)
            for n in range(ROWS)
        ])
    store = OrmNotificationStore()
    cursor = None
    for _ in range(50):  # walk 50 pages (1,000 rows) with the store's own cursors
        _page, cursor = store.list_for(recipient.id, cursor=cursor, limit=LIMIT)
    with CaptureQueriesContext(connection) as queries:
        page, _next = store.list_for(recipient.id, cursor=cursor, limit=LIMIT)
    expected = list(Notification.objects.filter(recipient_id=recipient.id).order_by("-updated_at", "-id")
                    .values_list("id", flat=True)[1000:1000 + LIMIT])
    assert [int(record.id) for record in page] == expected
    (sql,) = [q["sql"] for q in queries.captured_queries]
    assert_reads_only_the_page(sql, "notifications_notification", "notif_listing")
    # the unread-only listing has its own (partial) index
    with CaptureQueriesContext(connection) as queries:
        store.list_for(recipient.id, cursor=cursor, limit=LIMIT, unread_only=True)
    (sql,) = [q["sql"] for q in queries.captured_queries]
    assert_reads_only_the_page(sql, "notifications_notification", "notif_unread_listing")


@pytest.mark.parametrize("cursor", [
    "AAAA", "not a cursor!", base64.urlsafe_b64encode(b'{"id": -1}').decode().rstrip("="),
    base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00"]').decode().rstrip("="),  # one value of two
    base64.urlsafe_b64encode(b'["2026-01-01T00:00:00", 5]').decode().rstrip("="),  # naive time
    base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", 9223372036854775808]').decode().rstrip("="),
    base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", true]').decode().rstrip("="),
])
def test_a_cursor_that_is_not_one_of_the_list_is_a_400(user_factory, client_for, cursor):
    author = user_factory()
    Post.objects.create(author=author, content="x")
    response = client_for(author).get(f"/api/Post/users/{author.id}", {"cursor": cursor})
    assert (response.status_code, response.json()) == (400, {"cursor": ["Invalid cursor."]})


def test_walking_every_page_returns_each_row_once_in_order_with_ties(user_factory, client_for, times):
    author = user_factory()
    Post.objects.bulk_create([Post(author=author, content=f"p{n}", created_at=t) for n, t in enumerate(times[:95])])
    client, seen, cursor = client_for(author), [], None
    while True:
        body = client.get(f"/api/Post/users/{author.id}", {"limit": LIMIT, **({"cursor": cursor} if cursor else {})}).json()
        seen += [p["id"] for p in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(Post.objects.filter(author=author).order_by("-created_at", "-id").values_list("id", flat=True))
    assert json.loads(base64.urlsafe_b64decode(encode_cursor([1]) + "==")) == [1]
