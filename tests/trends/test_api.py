"""The trends API: GET /api/trends/ and GET /api/trends/hashtags/{tag}/posts."""

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from graph.models import Block, Friendship
from tests.trends.helpers import make_post
from trends.models import GlobalTrend
from trends.services import global_trends_recompute

pytestmark = pytest.mark.django_db

T = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def trends(user_factory):
    """Stored trends as of T: 24h → #big (3 authors), #small (2 authors); 1h → #big only."""
    users = [user_factory() for _ in range(3)]
    for user in users:
        make_post(user, ["Big"], T - timedelta(minutes=30))
    for user in users[:2]:
        make_post(user, ["small"], T - timedelta(hours=5))
    for window in ("1h", "24h", "7d"):
        global_trends_recompute(window=window, as_of=T)
    return users


def test_trends_default_window_and_limit(trends, client_for, user_factory):
    # when a signed-in user asks without parameters (24h, limit 10)
    response = client_for(user_factory()).get("/api/trends/")
    # then a plain JSON list, best first, exact scores
    assert response.status_code == 200
    assert response.json() == [
        {"hashtag": "big", "score": 4.0, "post_count": 3, "unique_authors": 3, "window": "24h"},
        {"hashtag": "small", "score": 1.0 * 0.5 ** (4 / 6), "post_count": 2, "unique_authors": 2, "window": "24h"},
    ]


def test_trends_window_and_limit(trends, client_for, user_factory):
    client = client_for(user_factory())
    # an empty value means the default, like an empty limit in every list (24h, 10)
    assert client.get("/api/trends/?window=&limit=").json() == client.get("/api/trends/").json()
    assert client.get("/api/trends/?window=1h").json() == [
        {"hashtag": "big", "score": 4.0, "post_count": 3, "unique_authors": 3, "window": "1h"},
    ]
    assert [t["hashtag"] for t in client.get("/api/trends/?window=7d&limit=1").json()] == ["big"]
    assert client.get("/api/trends/?limit=100").status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("window=2h", "window"),
        ("window=24H", "window"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=1000000", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
    ],
)
def test_trends_bad_query_is_400_and_writes_nothing(trends, client_for, user_factory, query, field):
    before = list(GlobalTrend.objects.order_by("id").values_list("id", "score", "computed_at"))
    response = client_for(user_factory()).get(f"/api/trends/?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert list(GlobalTrend.objects.order_by("id").values_list("id", "score", "computed_at")) == before


def test_trends_need_authentication(api_client):
    assert api_client.get("/api/trends/").status_code == 401
    assert api_client.get("/api/trends/hashtags/x/posts").status_code == 401


@pytest.fixture
def tagged(user_factory):
    """Viewer V; posts tagged #Café by: V's friend F (friends-only), stranger S (public, and a
    friends-only one V may not see), blocked B (public), S's deleted post, S's hidden post."""
    viewer, friend, stranger, blocked = (user_factory() for _ in range(4))
    Friendship.objects.create(user_low_id=min(viewer.pk, friend.pk), user_high_id=max(viewer.pk, friend.pk))
    Block.objects.create(blocker=viewer, blocked=blocked)
    posts = {
        "friend": make_post(friend, ["Café"], T - timedelta(hours=1), visibility="friends", sync=False),
        "stranger": make_post(stranger, ["café"], T - timedelta(hours=2), sync=False),
        "stranger_friends": make_post(stranger, ["café"], T - timedelta(hours=3), visibility="friends", sync=False),
        "blocked": make_post(blocked, ["café"], T - timedelta(hours=4), sync=False),
        "deleted": make_post(stranger, ["café"], T - timedelta(hours=5), sync=False),
        "hidden": make_post(stranger, ["café"], T - timedelta(hours=6), sync=False),
        "other_tag": make_post(stranger, ["tea"], T - timedelta(hours=7), sync=False),
    }
    posts["deleted"].deleted_at = T
    posts["deleted"].save()
    posts["hidden"].moderation_state = "hidden"
    posts["hidden"].save()
    return viewer, posts


@pytest.mark.parametrize("tag", ["café", "CAFÉ", "Cafe\u0301", "#café"])
def test_hashtag_posts_visible_newest_first_case_and_unicode_insensitive(tagged, client_for, tag):
    viewer, posts = tagged
    response = client_for(viewer).get(f"/api/trends/hashtags/{quote(tag)}/posts")
    assert response.status_code == 200
    body = response.json()
    assert [p["id"] for p in body["results"]] == [posts["friend"].id, posts["stranger"].id]
    assert body["next_cursor"] is None
    assert body["results"][0]["hashtags"] == ["café"]


def test_hashtag_posts_cursor_pagination(tagged, client_for):
    viewer, posts = tagged
    client = client_for(viewer)
    first = client.get("/api/trends/hashtags/caf%C3%A9/posts?limit=1").json()
    assert [p["id"] for p in first["results"]] == [posts["friend"].id]
    second = client.get(f"/api/trends/hashtags/caf%C3%A9/posts?limit=1&cursor={first['next_cursor']}").json()
    assert ([p["id"] for p in second["results"]], second["next_cursor"]) == ([posts["stranger"].id], None)


def test_hashtag_posts_unknown_tag_is_an_empty_list(tagged, client_for):
    viewer, _ = tagged
    response = client_for(viewer).get("/api/trends/hashtags/nothing/posts")
    assert (response.status_code, response.json()) == (200, {"results": [], "next_cursor": None})


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/trends/hashtags/123/posts", "tag"),
        ("/api/trends/hashtags/%23/posts", "tag"),
        ("/api/trends/hashtags/a%20b/posts", "tag"),
        ("/api/trends/hashtags/caf%C3%A9/posts?limit=0", "limit"),
        ("/api/trends/hashtags/caf%C3%A9/posts?limit=abc", "limit"),
        ("/api/trends/hashtags/caf%C3%A9/posts?cursor=garbage", "cursor"),
    ],
)
def test_hashtag_posts_bad_input_is_400(tagged, client_for, path, field):
    viewer, _ = tagged
    response = client_for(viewer).get(path)
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_hashtag_posts_query_count_constant(user_factory, client_for, django_assert_num_queries):
    # given a viewer and 2, then 20 public posts tagged #q
    viewer = user_factory()
    client = client_for(viewer)
    authors = [user_factory() for _ in range(20)]
    for author in authors[:2]:
        make_post(author, ["q"], T, sync=False)
    with django_assert_num_queries(4) as two:
        assert len(client.get("/api/trends/hashtags/q/posts").json()["results"]) == 2
    for author in authors[2:]:
        make_post(author, ["q"], T, sync=False)
    with django_assert_num_queries(4) as twenty:
        assert len(client.get("/api/trends/hashtags/q/posts?limit=20").json()["results"]) == 20
    assert len(two.captured_queries) == len(twenty.captured_queries)


def test_trends_list_is_one_query(trends, user_factory, client_for, django_assert_num_queries):
    client = client_for(user_factory())
    with django_assert_num_queries(2):  # the token's user + the trends
        assert len(client.get("/api/trends/").json()) == 2
