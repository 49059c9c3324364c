"""GET /api/friends/suggestions: ranking from the store, filtering from PostgreSQL, cache."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from bellamy.accounts.api.serializers import UserSerializer
from graph.models import Block, FriendRequest, Friendship
from graph.stores import get_graph_store
from graph.services import friend_request_accept, friend_request_send
from graph.suggestions import cache_key, fetch_size

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
    assert cache.get(cache_key(a.id, fetch_size(10))) is None


def test_ranking_is_cached_but_postgresql_filters_every_request(network, client_for, user_factory):
    a, b, c, d, e, g, h, x = network
    client = client_for(a)
    assert client.get(URL).json() == [item(d, 2, 2.0), item(e, 1, 1.0)]
    # the cached ranking is ids only and still holds the suspended X (filtered per request)
    assert cache.get(cache_key(a.id, fetch_size(10))) == [(d.id, 2, 2.0), (x.id, 2, 2.0), (e.id, 1, 1.0)]

    # when: a new friend-of-friend appears in the store without the graph worker (a backfill)
    # → not shown until the cache expires
    f = user_factory(username="f")
    befriend((f, b), (f, c))
    assert client.get(URL).json() == [item(d, 2, 2.0), item(e, 1, 1.0)]

    # when: A blocks D → hidden at once, although the cached ranking still holds D
    Block.objects.create(blocker=a, blocked=d)
    assert client.get(URL).json() == [item(e, 1, 1.0)]

    # and once the cache entry is gone, the store's new ranking shows F
    cache.delete(cache_key(a.id, fetch_size(10)))
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


def test_exactly_limit_when_a_top_candidate_is_filtered_out(configured_backend, network, client_for):
    # given: A's candidates ranked D (2 mutual), X (2, suspended), E (1)
    a, b, c, d, e, g, h, x = network
    # when: A asks for 2 — the store's top 2 are D and X, and X is filtered out by PostgreSQL
    response = client_for(a).get(URL, {"limit": "2"})
    # then: still 2 suggestions, E filling the place of X
    assert response.status_code == 200
    assert response.json() == [item(d, 2, 2.0), item(e, 1, 1.0)]


def test_exactly_limit_when_many_candidates_are_filtered_out(configured_backend, user_factory, users_in_block,
                                                             client_for):
    # given: A — B; B has 30 suspended friends with 2 mutual friends with A (through B and C),
    # ranked above 3 active friends of B with 1 mutual friend
    a, b, c = (user_factory(username=n) for n in "abc")
    befriend((a, b), (a, c))
    suspended = [user_factory(username=f"s{n}", is_active=False) for n in range(30)]
    befriend(*[(s, b) for s in suspended], *[(s, c) for s in suspended])
    active = [user_factory(username=f"u{n}") for n in range(3)]
    befriend(*[(u, b) for u in active])
    # when: A asks for 3 (the first store round of 16 holds only suspended users)
    response = client_for(a).get(URL, {"limit": "3"})
    # then: the three active ones, found by asking the store again for more
    assert response.json() == [item(u, 1, 1.0) for u in active]


def test_new_friend_of_friend_shows_once_the_graph_worker_ran(configured_backend, network, client_for,
                                                              user_factory, django_capture_on_commit_callbacks):
    # given: A's suggestions are cached (D, E)
    a, b, c, d, e, g, h, x = network
    client = client_for(a)
    assert client.get(URL).json() == [item(d, 2, 2.0), item(e, 1, 1.0)]
    # when: F becomes friends with B and with C through the API's services (events → the graph
    # worker, inline on the embedded bus)
    f = user_factory(username="f")
    with django_capture_on_commit_callbacks(execute=True):
        for friend in (b, c):
            request = friend_request_send(from_user=f, to_user_id=friend.id)
            friend_request_accept(user=friend, request_id=request.id)
    assert get_graph_store().friend_ids(f.id) == {b.id, c.id}
    # then: the next request shows F at once (the worker bumped A's suggestion version), no
    # cache expiry needed
    assert client.get(URL).json() == [item(d, 2, 2.0), item(f, 2, 2.0), item(e, 1, 1.0)]
