"""Management commands: graph_import_edges, graph_backfill, graph_install_schema."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from graph.models import Friendship
from graph.projection import FriendEdge, Interaction
from graph.stores import get_graph_store
from graph.stores.base import Suggestion

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


# --- graph_import_edges -----------------------------------------------------------------------

def test_import_edges_creates_users_friendships_and_store_edges(configured_backend, users_in_block,
                                                                 tmp_path, user_factory):
    # given: an edge list with a comment, a duplicate (reversed), a self loop; fb1 already exists
    path = tmp_path / "edges.txt"
    path.write_text("# a comment\n1 2\n2 3\n3 3\n2 1\n\n4 2\n")
    existing = user_factory(username="fb1", display_name="Kept")

    # when
    output = run("graph_import_edges", str(path), batch_size=2)

    # then: users fb1..fb4 (fb1 kept as it was; the others with unusable passwords)
    User = get_user_model()
    users = {u.username: u for u in User.objects.filter(username__startswith="fb")}
    assert sorted(users) == ["fb1", "fb2", "fb3", "fb4"]
    assert users["fb1"].id == existing.id and users["fb1"].display_name == "Kept"
    assert not users["fb2"].has_usable_password()
    # and three friendships in PostgreSQL and in the store
    ids = {name: user.id for name, user in users.items()}
    expected = {tuple(sorted((ids[a], ids[b]))) for a, b in [("fb1", "fb2"), ("fb2", "fb3"), ("fb4", "fb2")]}
    assert set(Friendship.objects.values_list("user_low_id", "user_high_id")) == expected
    store = get_graph_store()
    assert store.friend_ids(ids["fb2"]) == {ids["fb1"], ids["fb3"], ids["fb4"]}
    assert store.suggestions(ids["fb1"], 10) == [Suggestion(ids["fb3"], 1, 1.0), Suggestion(ids["fb4"], 1, 1.0)]
    assert output.startswith("imported 4 users (3 new) and 3 friendships (3 new) from edges.txt")

    # when: imported again → nothing new
    again = run("graph_import_edges", str(path))
    assert again.startswith("imported 4 users (0 new) and 3 friendships (0 new) from edges.txt")
    assert Friendship.objects.count() == 3
    assert store.friend_ids(ids["fb2"]) == {ids["fb1"], ids["fb3"], ids["fb4"]}


@pytest.mark.parametrize("content", ["1 2\nx 3\n", "1\n"])
def test_import_edges_rejects_a_bad_line_and_writes_nothing(content, tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(CommandError):
        run("graph_import_edges", str(path))
    assert get_user_model().objects.count() == 0
    assert Friendship.objects.count() == 0
    assert FriendEdge.objects.count() == 0


def test_import_edges_missing_file(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run("graph_import_edges", str(tmp_path / "nope.txt"))


# --- graph_backfill (on Neo4j it clears only the configured namespace) ------------------------

@pytest.fixture
def source_data(user_factory):
    """PostgreSQL rows: A—B, B—C friends; A liked and commented B's post, C liked it 14 days
    ago, B liked his own post, B mentioned A; plus a stale projection edge D—E."""
    from posts.models import Comment, Like, Post, PostMention

    a, b, c, d, e = (user_factory() for _ in range(5))
    Friendship.objects.create(user_low_id=min(a.id, b.id), user_high_id=max(a.id, b.id))
    Friendship.objects.create(user_low_id=min(b.id, c.id), user_high_id=max(b.id, c.id))
    now = timezone.now()
    post = Post.objects.create(author=b, content="hi @a", created_at=now)
    Like.objects.create(post=post, user=a, created_at=now)
    Like.objects.create(post=post, user=c, created_at=now - timedelta(days=14))
    Like.objects.create(post=post, user=b, created_at=now)
    Comment.objects.create(post=post, author=a, content="yo", created_at=now)
    PostMention.objects.create(post=post, user=a)
    get_graph_store().add_friendship(d.id, e.id)
    return a, b, c, d, e


def test_backfill_rebuilds_the_projection(source_data):
    a, b, c, d, e = source_data

    output = run("graph_backfill", batch_size=1)

    store = get_graph_store()
    assert set(FriendEdge.objects.values_list("user_low_id", "user_high_id")) == {
        (min(a.id, b.id), max(a.id, b.id)), (min(b.id, c.id), max(b.id, c.id))}
    far_past = timezone.now() - timedelta(days=365)  # before the stored time: read undecayed
    assert store.weight(a.id, b.id, at=far_past) == 3.0  # like 1.0 + comment 2.0
    assert store.weight(c.id, b.id, at=far_past) == 0.5  # a like one half-life old
    assert store.weight(b.id, a.id, at=far_past) == 0.5  # mention
    assert Interaction.objects.count() == 3  # B's own like is not an interaction
    # C via B: 1 mutual + 0.1 * w(A → B) 3.0
    assert store.suggestions(a.id, 10, at=far_past) == [Suggestion(c.id, 1, 1.3)]
    assert output.startswith("rebuilt OrmGraphStore: 2 friendships, 3 weights (likes 3, comments 1, mentions 1)")


def test_backfill_dry_run_changes_nothing(source_data):
    a, b, c, d, e = source_data

    output = run("graph_backfill", "--dry-run")

    assert output.startswith("dry run: would rebuild OrmGraphStore: 2 friendships, 3 weights")
    assert list(FriendEdge.objects.values_list("user_low_id", "user_high_id")) == [
        (min(d.id, e.id), max(d.id, e.id))]
    assert Interaction.objects.count() == 0


def test_backfill_rejects_a_bad_batch_size():
    with pytest.raises(CommandError):
        run("graph_backfill", batch_size=0)


# --- graph_install_schema ---------------------------------------------------------------------

def test_install_schema(configured_backend):
    output = run("graph_install_schema")
    if configured_backend == "orm":
        assert output == "OrmGraphStore: schema comes from migrations; nothing to install\n"
    else:
        assert output.rstrip().endswith("Neo4jGraphStore: schema installed")
        from neomodel import db

        rows, _ = db.cypher_query(
            "SHOW CONSTRAINTS YIELD name, labelsOrTypes, properties, type "
            "WHERE name STARTS WITH 'bellamy_' RETURN labelsOrTypes, properties, type ORDER BY name")
        assert rows == [[["AppliedEvent"], ["ns", "event_id"], "UNIQUENESS"],
                        [["Member"], ["ns", "user_id"], "UNIQUENESS"]]


def test_backfill_on_neo4j_clears_only_its_namespace(source_data, settings, ids):
    # given: the configured Neo4j namespace with a stale edge, and another deployment's
    # namespace on the same server holding the same user ids
    from tests.graph_store.conftest import neo4j_spec, neo4j_store

    a, b, c, d, e = source_data
    mine, other = neo4j_store(), neo4j_store()
    settings.BELLAMY_GRAPH = neo4j_spec(mine.namespace)
    try:
        mine.add_friendship(d.id, e.id)
        other.add_friendship(d.id, e.id)
        other.strengthen(a.id, b.id, 7.0, at=timezone.now())

        # when: graph_backfill rebuilds the configured store
        output = run("graph_backfill")

        # then: the configured namespace is rebuilt from PostgreSQL, the other one untouched
        assert output.startswith("rebuilt Neo4jGraphStore: 2 friendships, 3 weights")
        assert mine.friend_ids(d.id) == set()
        assert mine.friend_ids(b.id) == {a.id, c.id}
        assert other.friend_ids(d.id) == {e.id}
        assert other.stats() == {"users": 2, "friendships": 1, "interactions": 1}
    finally:
        mine.clear(force=True)
        other.clear(force=True)
