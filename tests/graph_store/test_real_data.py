"""Real data: the SNAP ego-Facebook graph (4,039 users, 88,234 friendships) in both backends.

Suggestions for fixed nodes are checked against a friends-of-friends count computed here in
plain Python from the file (mutual counts exact, ties by user id)."""

from __future__ import annotations

import io
import os
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from graph.models import Friendship
from graph.stores import get_graph_store
from graph.stores.base import Suggestion
from tests.conftest import services_required

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db]

DATASET = Path(os.environ.get(
    "BELLAMY_EGO_FACEBOOK",
    Path(settings.BASE_DIR).parent / "shared" / "datasets" / "ego_facebook" / "facebook_combined.txt",
))
#: Fixed nodes: an ego (0), the largest hub (107) and a small-degree node (3980).
NODES = [0, 107, 3980]


def read_adjacency(path: Path) -> dict[int, set[int]]:
    adjacency: dict[int, set[int]] = defaultdict(set)
    for line in path.read_text().splitlines():
        a, b = map(int, line.split())
        adjacency[a].add(b)
        adjacency[b].add(a)
    return adjacency


def friends_of_friends(adjacency: dict[int, set[int]], node: int) -> Counter:
    """{candidate node: mutual friends} for ``node``: friends of friends minus self and friends."""
    counts: Counter = Counter()
    for friend in adjacency[node]:
        counts.update(adjacency[friend])
    for excluded in adjacency[node] | {node}:
        counts.pop(excluded, None)
    return counts


def test_import_ego_facebook_and_check_suggestions(configured_backend, users_in_block, ids):
    if not DATASET.exists():
        message = f"dataset missing: {DATASET}"
        pytest.fail(message) if services_required() else pytest.skip(message)

    # when: the edge list is imported (PostgreSQL + the configured store)
    out = io.StringIO()
    call_command("graph_import_edges", str(DATASET), batch_size=20000, verbosity=0, stdout=out)

    # then: PostgreSQL, the source of truth, has every user and friendship
    User = get_user_model()
    uid = dict(User.objects.filter(username__startswith="fb").values_list("username", "id"))
    assert len(uid) == 4039
    assert Friendship.objects.count() == 88234
    assert out.getvalue().startswith(
        "imported 4039 users (4039 new) and 88234 friendships (88234 new) from facebook_combined.txt")
    node_of = {user_id: int(name[2:]) for name, user_id in uid.items()}
    # and so does the store (its namespace holds nothing else)
    store = get_graph_store()
    assert store.stats() == {"users": 4039, "friendships": 88234, "interactions": 0}

    # and suggestions match friends-of-friends counted from the file
    adjacency = read_adjacency(DATASET)
    for node in NODES:
        counts = friends_of_friends(adjacency, node)
        expected = sorted(counts.items(), key=lambda item: (-item[1], uid[f"fb{item[0]}"]))[:25]
        got = store.suggestions(uid[f"fb{node}"], 25)
        assert [(node_of[s.user_id], s.mutual_friends) for s in got] == expected
        assert all(s == Suggestion(s.user_id, s.mutual_friends, float(s.mutual_friends)) for s in got)
        assert store.friend_ids(uid[f"fb{node}"]) == {uid[f"fb{f}"] for f in adjacency[node]}
    # and mutual counts of a few pairs
    for a, b in [(0, 107), (107, 1684), (3980, 686), (0, 3980)]:
        assert store.mutual_friend_count(uid[f"fb{a}"], uid[f"fb{b}"]) == len(adjacency[a] & adjacency[b])
