"""GET /api/friends/suggestions: ranking from the store, filtering from PostgreSQL, cache."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from bellamy.accounts.api.serializers import UserSerializer
from graph.models import Block, FriendRequest, Friendship
from graph.stores import get_graph_store
from graph.suggestions import cache_key

pytestmark = [pytest.mark.services, pytest.mark.django_db]

URL = "/api/friends/suggestions"


def befriend(*pairs):
    """Friendships in PostgreSQL (source of truth) and in the configured graph store."""
    for x, y in pairs:
        low, high = sorted((x.id, y.id))
        Friendship.objects.create(user_low_id=low, user_high_id=high)
    get_graph_store().bulk_add_friendships([(x.id, y.id) for x, y in pairs])


@pytest.fixture
def network(user_factory, users_in_block):
    """A — B, C. D — B, C (2 mutual); E — B (1); G — B, C blocked by A; H — B, C with a pending
    request to A; X — B, C suspended."""
    a, b, c, d, e, g, h, x = (user_factory(username=name) for name in "abcdeghx")
    befriend((a, b), (a, c), (d, b), (d, c), (e, b), (g, b), (g, c), (h, b), (h, c), (x, b), (x, c))
    Block.objects.create(blocker=a, blocked=g)
    FriendRequest.objects.create(from_user=h, to_user=a)
    x.is_active = False
    x.save(update_fields=["is_active"])
    return a, b, c, d, e, g, h, x


def item(user, mutual, score):
    return {"user": UserSerializer(user).data, "mutual_friends": mutual, "score": score}


def test_suggestions_happy_path(configured_backend, network, client_for):
    a, b, c, d, e, g, h, x = network

    response = client_for(a).get(URL)

    assert response.status_code == 200
    assert response.json() == [item(d, 2, 2.0), item(e, 1, 1.0)]
    assert set(response.json()[0]["user"]) == {"id", "username", "display_name", "bio", "date_joined"}


def test_limit(configured_backend, network, client_for):
    a, b, c, d, e, g, h, x = network
    response = client_for(a).get(URL, {"limit": "1"})
    assert response.status_code == 200
    assert response.json() == [item(d, 2, 2.0)]


def test_anonymous_is_401(api_client):
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("limit", ["0", "51", "abc", "-1", "1.5"])
def test_bad_limit_is_400_and_caches_nothing(limit, network, client_for):
    a = network[0]
    response = client_for(a).get(URL, {"limit": limit})
    assert response.status_code == 400
    assert response.json() == {"limit": ["Must be an integer between 1 and 50."]}
    assert cache.get(cache_key(a.id, 10)) is None


def test_ranking_is_cached_but_postgresql_filters_every_request(network, client_for, user_factory):
    a, b, c, d, e, g, h, x = network
    client = client_for(a)
    assert client.get(URL).json() == [item(d, 2, 2.0), item(e, 1, 1.0)]
    # the cached ranking is ids only and still holds the suspended X (filtered per request)
    assert cache.get(cache_key(a.id, 10)) == [(d.id, 2, 2.0), (x.id, 2, 2.0), (e.id, 1, 1.0)]

    # when: a new friend-of-friend appears in the store → not shown until the cache expires
    f = user_factory(username="f")
    befriend((f, b), (f, c))
    assert client.get(URL).json() == [item(d, 2, 2.0), item(e, 1, 1.0)]

    # when: A blocks D → hidden at once, although the cached ranking still holds D
    Block.objects.create(blocker=a, blocked=d)
    assert client.get(URL).json() == [item(e, 1, 1.0)]

    # and once the cache entry is gone, the store's new ranking shows F
    cache.delete(cache_key(a.id, 10))
    assert client.get(URL).json() == [item(f, 2, 2.0), item(e, 1, 1.0)]


@pytest.mark.parametrize("count", [2, 20])
def test_query_count_does_not_grow_with_suggestions(count, user_factory, client_for,
                                                     django_assert_num_queries):
    # given: A — B, and `count` friends of B
    a, b = user_factory(), user_factory()
    befriend((a, b), *[(user_factory(), b) for _ in range(count)])
    client = client_for(a)

    # when/then uncached: auth user, pending requests, blocks, the store's SQL, the users
    with django_assert_num_queries(5):
        assert len(client.get(URL, {"limit": "50"}).json()) == count
    # and cached: auth user, the users
    with django_assert_num_queries(2):
        assert len(client.get(URL, {"limit": "50"}).json()) == count
