"""The graph store contract, run identically against the ORM store and real Neo4j."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from graph.stores.base import GraphStoreError, InteractionChange, InteractionStep, Suggestion
from tests.conftest import NEO4J_URL
from tests.graph_store.conftest import HALF_LIFE, T0, neo4j_store

pytestmark = pytest.mark.services


def build_suggestion_graph(store, ids):
    """A — B, C, F. D is friends with B, C, F (3 mutual with A); E with B, C (2); H with B, C
    (2, but a pending request with A); G with B (1, but blocked); B — C are also friends."""
    a, b, c, d, e, f, g, h = (ids(n) for n in range(1, 9))
    for x, y in [(a, b), (a, c), (a, f), (d, b), (d, c), (d, f), (e, b), (e, c), (g, b),
                 (h, b), (h, c), (b, c)]:
        store.add_friendship(x, y)
    return a, b, c, d, e, f, g, h


# --- friendships ------------------------------------------------------------------------------

def test_add_friendship_is_symmetric_and_idempotent(store, ids):
    # given / when: one friendship added three times, in both orders
    store.add_friendship(ids(1), ids(2))
    store.add_friendship(ids(2), ids(1))
    store.add_friendship(ids(1), ids(2))

    # then: each is the other's only friend, and one edge exists
    assert store.friend_ids(ids(1)) == {ids(2)}
    assert store.friend_ids(ids(2)) == {ids(1)}
    assert store.friend_ids(ids(3)) == set()


def test_add_friendship_with_self_is_refused(store, ids):
    with pytest.raises(ValueError):
        store.add_friendship(ids(1), ids(1))
    assert store.friend_ids(ids(1)) == set()


def test_remove_friendship(store, ids):
    # given: 1—2 and 1—3
    store.add_friendship(ids(1), ids(2))
    store.add_friendship(ids(1), ids(3))

    # when: 2—1 removed (reverse order), and an absent pair removed
    store.remove_friendship(ids(2), ids(1))
    store.remove_friendship(ids(4), ids(5))

    # then
    assert store.friend_ids(ids(1)) == {ids(3)}
    assert store.friend_ids(ids(2)) == set()


def test_bulk_add_friendships_dedupes_and_skips_self(store, ids):
    # when: duplicates in both orders and a self pair
    count = store.bulk_add_friendships(
        [(ids(1), ids(2)), (ids(2), ids(1)), (ids(1), ids(3)), (ids(4), ids(4)), (ids(3), ids(2))]
    )

    # then: three distinct pairs
    assert count == 3
    assert store.friend_ids(ids(1)) == {ids(2), ids(3)}
    assert store.friend_ids(ids(2)) == {ids(1), ids(3)}
    assert store.friend_ids(ids(4)) == set()
    # and a second bulk of the same pairs adds nothing
    assert store.bulk_add_friendships([(ids(2), ids(1))]) == 1
    assert store.friend_ids(ids(2)) == {ids(1), ids(3)}


def test_mutual_friend_count(store, ids):
    a, b, c, d, e, f, g, h = build_suggestion_graph(store, ids)
    assert store.mutual_friend_count(a, d) == 3
    assert store.mutual_friend_count(d, a) == 3
    assert store.mutual_friend_count(a, e) == 2
    assert store.mutual_friend_count(a, g) == 1
    assert store.mutual_friend_count(b, c) == 4  # A, D, E, H
    assert store.mutual_friend_count(a, a) == 0
    assert store.mutual_friend_count(a, ids(99)) == 0


# --- suggestions ------------------------------------------------------------------------------

def test_suggestions_are_friends_of_friends_minus_friends_and_exclusions(store, ids):
    a, b, c, d, e, f, g, h = build_suggestion_graph(store, ids)

    # when: the caller excludes the blocked G and the pending H
    result = store.suggestions(a, 10, exclude={g, h})

    # then: exactly D (3 mutual) then E (2 mutual); never A, its friends B/C/F, G or H
    assert result == [Suggestion(d, 3, 3.0), Suggestion(e, 2, 2.0)]


def test_suggestions_without_exclusions_order_ties_by_id(store, ids):
    a, b, c, d, e, f, g, h = build_suggestion_graph(store, ids)
    assert store.suggestions(a, 10) == [
        Suggestion(d, 3, 3.0), Suggestion(e, 2, 2.0), Suggestion(h, 2, 2.0), Suggestion(g, 1, 1.0)
    ]
    assert store.suggestions(a, 1) == [Suggestion(d, 3, 3.0)]
    assert store.suggestions(ids(99), 10) == []


def test_suggestions_score_uses_decayed_weights(store, ids):
    a, b, c, d, e, f, g, h = build_suggestion_graph(store, ids)
    # given: A interacts a lot with its friend B; E interacts a lot with A
    store.strengthen(a, b, 10.0, at=T0)
    store.strengthen(e, a, 15.0, at=T0)

    # then at T0: D = 3 + 0.1*10 = 4.0; E = 2 + 0.1*(10 + 15) = 4.5 → E first
    assert store.suggestions(a, 2, exclude={g, h}, at=T0) == [
        Suggestion(e, 2, 4.5), Suggestion(d, 3, 4.0)
    ]
    # and one half-life later: D = 3 + 0.1*5 = 3.5; E = 2 + 0.1*(5 + 7.5) = 3.25
    assert store.suggestions(a, 2, exclude={g, h}, at=T0 + HALF_LIFE) == [
        Suggestion(d, 3, 3.5), Suggestion(e, 2, 3.25)
    ]


# --- weights ----------------------------------------------------------------------------------

def test_weight_halves_after_one_half_life(store, ids):
    # given: 4.0 at T0
    assert store.strengthen(ids(1), ids(2), 4.0, at=T0) == 4.0

    # then
    assert store.weight(ids(1), ids(2), at=T0) == 4.0
    assert store.weight(ids(1), ids(2), at=T0 + HALF_LIFE) == 2.0
    assert store.weight(ids(1), ids(2), at=T0 + 2 * HALF_LIFE) == 1.0
    assert store.weight(ids(2), ids(1), at=T0) == 0.0  # directed
    # one day: 4 * 0.5 ** (1/14), rounded to 6 decimals
    assert store.weight(ids(1), ids(2), at=T0 + timedelta(days=1)) == 3.806781


def test_strengthen_adds_to_the_decayed_weight(store, ids):
    store.strengthen(ids(1), ids(2), 4.0, at=T0)
    assert store.strengthen(ids(1), ids(2), 1.0, at=T0 + HALF_LIFE) == 3.0
    assert store.weight(ids(1), ids(2), at=T0 + 2 * HALF_LIFE) == 1.5


def test_strengthen_with_an_older_time_adds_undecayed(store, ids):
    # given: 4.0 at T0 + 1 half-life; then an older event (T0) arrives late
    store.strengthen(ids(1), ids(2), 4.0, at=T0 + HALF_LIFE)
    assert store.strengthen(ids(1), ids(2), 1.0, at=T0) == 5.0
    # the stored time stays the later one
    assert store.weight(ids(1), ids(2), at=T0 + 2 * HALF_LIFE) == 2.5


def test_weakening_floors_at_zero(store, ids):
    store.strengthen(ids(1), ids(2), 0.5, at=T0)
    assert store.strengthen(ids(1), ids(2), -1.0, at=T0) == 0.0
    assert store.weight(ids(1), ids(2), at=T0) == 0.0
    assert store.strengthen(ids(3), ids(4), -1.0, at=T0) == 0.0
    assert store.strengthen(ids(1), ids(2), 2.0, at=T0) == 2.0


def test_self_interaction_is_refused(store, ids):
    with pytest.raises(ValueError):
        store.strengthen(ids(1), ids(1), 1.0, at=T0)
    assert store.top_relations(ids(1), 10, at=T0) == []


def test_top_relations(store, ids):
    # given: 1→2 3.0, 1→3 1.0, 1→4 3.0, 1→5 zero, 2→1 9.0 (other direction)
    for to, amount in [(2, 3.0), (3, 1.0), (4, 3.0), (5, 1.0)]:
        store.strengthen(ids(1), ids(to), amount, at=T0)
    store.strengthen(ids(1), ids(5), -1.0, at=T0)
    store.strengthen(ids(2), ids(1), 9.0, at=T0)

    # then: weight desc, ties by id asc, zero weights left out
    assert store.top_relations(ids(1), 10, at=T0) == [(ids(2), 3.0), (ids(4), 3.0), (ids(3), 1.0)]
    assert store.top_relations(ids(1), 2, at=T0) == [(ids(2), 3.0), (ids(4), 3.0)]


def test_top_relations_order_follows_decay(store, ids):
    store.strengthen(ids(1), ids(2), 4.0, at=T0)
    store.strengthen(ids(1), ids(3), 3.0, at=T0 + HALF_LIFE)
    assert store.top_relations(ids(1), 10, at=T0) == [(ids(2), 4.0), (ids(3), 3.0)]
    assert store.top_relations(ids(1), 10, at=T0 + HALF_LIFE) == [(ids(3), 3.0), (ids(2), 2.0)]


def test_clear_interactions_deletes_both_directions_only(store, ids):
    store.strengthen(ids(1), ids(2), 1.0, at=T0)
    store.strengthen(ids(2), ids(1), 2.0, at=T0)
    store.strengthen(ids(1), ids(3), 3.0, at=T0)

    store.clear_interactions(ids(2), ids(1))

    assert store.weight(ids(1), ids(2), at=T0) == 0.0
    assert store.weight(ids(2), ids(1), at=T0) == 0.0
    assert store.weight(ids(1), ids(3), at=T0) == 3.0


def test_bulk_set_weights_overwrites(store, ids):
    store.strengthen(ids(1), ids(2), 9.0, at=T0)
    written = store.bulk_set_weights([
        (ids(1), ids(2), 4.0, T0), (ids(2), ids(3), 1.5, T0 + HALF_LIFE), (ids(4), ids(4), 1.0, T0),
    ])
    assert written == 2
    assert store.weight(ids(1), ids(2), at=T0 + HALF_LIFE) == 2.0
    assert store.weight(ids(2), ids(3), at=T0 + HALF_LIFE) == 1.5


# --- batches: set_friendships, apply_interactions --------------------------------------------

E1, E2, E3 = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
              "33333333-3333-4333-8333-333333333333")


def test_set_friendships_adds_and_removes_in_one_call(store, ids):
    store.add_friendship(ids(1), ids(2))
    store.add_friendship(ids(1), ids(3))
    # when: 1—2 must be absent, 1—4 present (given reversed), 1—3 present already, a self pair
    count = store.set_friendships({(ids(2), ids(1)): False, (ids(4), ids(1)): True, (ids(1), ids(3)): True,
                                   (ids(5), ids(5)): True})
    assert count == 3
    assert store.friend_ids(ids(1)) == {ids(3), ids(4)}
    assert store.friend_ids(ids(2)) == set()
    # and again: nothing changes
    store.set_friendships({(ids(2), ids(1)): False, (ids(4), ids(1)): True})
    assert store.friend_ids(ids(1)) == {ids(3), ids(4)}


def test_apply_interactions_folds_in_order_and_reports_each_step(store, ids):
    a, b, c = ids(1), ids(2), ids(3)
    store.strengthen(b, a, 3.0, at=T0)
    steps = store.apply_interactions([
        InteractionChange(E1, a, b, T0, amount=2.0),
        InteractionChange(E1, a, c, T0, amount=0.5),
        InteractionChange(E2, a, b, T0 + HALF_LIFE, amount=1.0),   # 2.0 halved + 1.0
        InteractionChange(E3, a, b, T0 + HALF_LIFE, clear=True),   # a block clears both ways
        InteractionChange(E3, a, c, T0 + HALF_LIFE, amount=-1.0),  # floored at 0
    ])
    assert steps == [
        InteractionStep(E1, a, b, 0.0, 2.0), InteractionStep(E1, a, c, 0.0, 0.5),
        InteractionStep(E2, a, b, 1.0, 2.0),
        InteractionStep(E3, a, b, 2.0, 0.0), InteractionStep(E3, b, a, 1.5, 0.0),
        InteractionStep(E3, a, c, 0.25, 0.0),
    ]
    assert store.weight(a, b, at=T0 + HALF_LIFE) == 0.0
    assert store.weight(b, a, at=T0 + HALF_LIFE) == 0.0
    assert store.top_relations(a, 10, at=T0 + HALF_LIFE) == []


def test_apply_interactions_equals_strengthen_one_by_one(store, ids):
    a, b = ids(1), ids(2)
    changes = [InteractionChange(f"00000000-0000-4000-8000-{n:012d}", a, b, T0 + timedelta(hours=7 * n),
                                 amount=[1.0, 2.0, -1.0, 0.5][n % 4]) for n in range(12)]
    store.apply_interactions(changes)
    batched = store.weight(a, b, at=T0 + timedelta(days=5))
    store.clear_interactions(a, b)
    for change in changes:
        store.strengthen(a, b, change.amount, at=change.at)
    assert store.weight(a, b, at=T0 + timedelta(days=5)) == batched
    assert batched > 0


def test_apply_interactions_is_exactly_once_per_event(store, ids):
    a, b = ids(1), ids(2)
    first = store.apply_interactions([InteractionChange(E1, a, b, T0, amount=4.0)])
    # when: E1 again with a new E2 (a redelivered batch, partly handled)
    again = store.apply_interactions([InteractionChange(E2, a, b, T0, amount=1.0),
                                      InteractionChange(E1, a, b, T0, amount=4.0)])
    # then: E1's recorded step comes back unchanged, only E2 was applied
    assert first == [InteractionStep(E1, a, b, 0.0, 4.0)]
    assert again == [InteractionStep(E2, a, b, 4.0, 5.0), InteractionStep(E1, a, b, 0.0, 4.0)]
    assert store.weight(a, b, at=T0) == 5.0
    # and a later prune forgets the records (after which E1 would count again)
    assert store.prune_applied(T0) == 0
    assert store.prune_applied(datetime.now(UTC) + timedelta(seconds=1)) == 2
    store.apply_interactions([InteractionChange(E1, a, b, T0, amount=4.0)])
    assert store.weight(a, b, at=T0) == 9.0


def test_apply_interactions_refuses_a_self_pair_and_writes_nothing(store, ids):
    with pytest.raises(ValueError):
        store.apply_interactions([InteractionChange(E1, ids(1), ids(2), T0, amount=1.0),
                                  InteractionChange(E1, ids(1), ids(1), T0, amount=1.0)])
    assert store.weight(ids(1), ids(2), at=T0) == 0.0
    assert store.apply_interactions([]) == []


# --- namespaces (Neo4j) ----------------------------------------------------------------------

def test_two_neo4j_namespaces_never_see_each_other(ids):
    # given: two deployments on one server with the same user ids
    one, two = neo4j_store(), neo4j_store()
    try:
        a, b, c = ids(1), ids(2), ids(3)
        one.add_friendship(a, b)
        one.add_friendship(b, c)
        one.apply_interactions([InteractionChange(E1, a, b, T0, amount=2.0)])
        two.add_friendship(a, c)
        two.apply_interactions([InteractionChange(E1, a, c, T0, amount=1.0)])
        # then: each answers from its own data only, and an event id recorded in one is new in
        # the other
        assert one.friend_ids(a) == {b} and two.friend_ids(a) == {c}
        assert one.top_relations(a, 10, at=T0) == [(b, 2.0)]
        assert two.top_relations(a, 10, at=T0) == [(c, 1.0)]
        assert one.suggestions(a, 10, at=T0) == [Suggestion(c, 1, 1.2)]
        assert two.suggestions(a, 10, at=T0) == []
        assert one.stats() == {"users": 3, "friendships": 2, "interactions": 1}
        assert two.stats() == {"users": 2, "friendships": 1, "interactions": 1}
        # when: one namespace is cleared, the other keeps everything
        one.clear()
        assert one.stats() == {"users": 0, "friendships": 0, "interactions": 0}
        assert two.stats() == {"users": 2, "friendships": 1, "interactions": 1}
        assert two.apply_interactions([InteractionChange(E1, a, c, T0, amount=1.0)]) == [
            InteractionStep(E1, a, c, 0.0, 1.0)]
    finally:
        one.clear()
        two.clear()



def test_neo4j_namespace_defaults_to_the_deployments_namespace(settings):
    # given: a deployment named by BELLAMY_NAMESPACE (its Redis key prefix set apart)
    from graph.stores.neo4j import Neo4jGraphStore

    settings.BELLAMY_NAMESPACE = "staging_b"
    settings.BELLAMY_KEY_PREFIX = "other_prefix"
    # then: a store configured without a namespace writes in that deployment's namespace
    assert Neo4jGraphStore(url=NEO4J_URL).namespace == "staging_b"
    # and: an explicit empty namespace is refused rather than writing outside any namespace
    with pytest.raises(GraphStoreError, match="non-empty namespace"):
        Neo4jGraphStore(url=NEO4J_URL, namespace="")

# --- users and maintenance --------------------------------------------------------------------

def test_delete_user_removes_its_edges_and_weights(store, ids):
    a, b, c, d, e, f, g, h = build_suggestion_graph(store, ids)
    store.strengthen(a, b, 2.0, at=T0)
    store.strengthen(b, a, 2.0, at=T0)
    store.strengthen(c, d, 1.0, at=T0)

    store.delete_user(b)

    assert store.friend_ids(b) == set()
    assert store.friend_ids(a) == {c, f}
    assert store.weight(a, b, at=T0) == 0.0
    assert store.weight(b, a, at=T0) == 0.0
    assert store.weight(c, d, at=T0) == 1.0
    assert store.mutual_friend_count(a, d) == 2


@pytest.mark.django_db
def test_stats_and_clear_on_the_orm_test_store(ids):
    # (ORM only: clear() would wipe the whole shared Neo4j database; refusal is tested on both)
    from graph.stores.orm import OrmGraphStore

    store = OrmGraphStore()
    build_suggestion_graph(store, ids)
    store.strengthen(ids(1), ids(2), 1.0, at=T0)
    assert store.stats() == {"users": 8, "friendships": 12, "interactions": 1}

    store.clear()

    assert store.stats() == {"users": 0, "friendships": 0, "interactions": 0}


def test_clear_refuses_on_a_non_test_store(backend, store, ids, monkeypatch):
    # given: a graph, and a store that is not a test store
    store.add_friendship(ids(1), ids(2))
    if backend == "orm":
        monkeypatch.setattr(store, "is_test_store", lambda: False)
    else:
        monkeypatch.setattr(store, "allow_clear", False)

    # when / then: refused, nothing deleted
    with pytest.raises(GraphStoreError):
        store.clear()
    assert store.friend_ids(ids(1)) == {ids(2)}


def test_ping(store):
    store.ping()
