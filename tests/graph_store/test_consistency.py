"""Both backends answer every query identically after the same random operations."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from graph.stores.orm import OrmGraphStore
from tests.graph_store.conftest import T0, neo4j_store

pytestmark = pytest.mark.services

USERS = 18


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [7, 2026])
def test_random_operations_give_identical_answers(seed, ids):
    # given: the ORM store and Neo4j, and a seeded stream of 400 operations on 18 users
    orm, neo = OrmGraphStore(), neo4j_store()
    rng = random.Random(seed)
    users = [ids(n) for n in range(1, USERS + 1)]
    now = T0
    try:
        for _ in range(400):
            op = rng.random()
            a, b = rng.sample(users, 2)
            now += timedelta(hours=rng.randrange(0, 48))
            amount = rng.choice([1.0, 2.0, 0.5, -1.0])
            for store in (orm, neo):
                if op < 0.40:
                    store.add_friendship(a, b)
                elif op < 0.50:
                    store.remove_friendship(a, b)
                elif op < 0.90:
                    store.strengthen(a, b, amount, at=now)
                elif op < 0.98:
                    store.clear_interactions(a, b)
                else:
                    store.delete_user(a)

        # then: every query answers identically
        at = now + timedelta(days=3)
        checked = 0
        for user in users:
            assert orm.friend_ids(user) == neo.friend_ids(user)
            assert orm.top_relations(user, 30, at=at) == neo.top_relations(user, 30, at=at)
            exclude = set(rng.sample(users, 3))
            assert orm.suggestions(user, 30, exclude=exclude, at=at) == neo.suggestions(
                user, 30, exclude=exclude, at=at)
            assert orm.suggestions(user, 3, at=at) == neo.suggestions(user, 3, at=at)
            for other in users:
                assert orm.weight(user, other, at=at) == neo.weight(user, other, at=at)
                assert orm.mutual_friend_count(user, other) == neo.mutual_friend_count(user, other)
                checked += 1
        # and the graph is not trivial: suggestions and weights exist
        assert checked == USERS * USERS
        assert sum(len(orm.suggestions(u, 30, at=at)) for u in users) > 12
        assert sum(len(orm.top_relations(u, 30, at=at)) for u in users) > 12
    finally:
        neo.clear()
