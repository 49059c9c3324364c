"""``manage.py search_reindex``: repairs a broken index, idempotent, dry run, progress bar,
summary line — on both backends."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from posts.models import Post
from tests.search.conftest import DATABASES
from tests.search.helpers import break_index, found, indexed_post_ids, plant_document, write

pytestmark = pytest.mark.django_db(databases=DATABASES)


def reindex(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("search_reindex", *args, "--database", Post.objects.all().db, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def summary(output: str) -> str:
    """The summary line without its duration."""
    line, = output.splitlines()
    return line.rsplit(" in ", 1)[0]


@pytest.fixture
def posts(backend, user_factory):
    alice = user_factory(username="alice")
    made = [write(alice, f"Quince jam {n} #jam") for n in range(3)]
    return alice, made


def test_repairs_a_broken_index_then_changes_nothing(backend, posts):
    alice, made = posts
    # PostgreSQL also indexes people and hashtag uses; SQLite reads them at query time
    people, tags = ("people 1 read", "hashtags 1 read") if backend == "default" else ("people 0 read", "hashtags 0 read")
    # a consistent index: nothing to change
    out, _ = reindex("--no-progress", "--batch-size", "2")
    assert summary(out) == (
        f"search_reindex: changed 0 index rows (posts 3 read, 0 written, 0 removed, {people}, 0 written, "
        f"0 removed, {tags}, 0 written, 0 removed)"
    )
    # when the index loses its post documents (and hashtag uses)
    break_index(Post.objects.all().db)
    assert found(alice, "quince") == []
    # then a dry run counts the 3 documents (and 3 uses) to write, and writes nothing
    missing = 6 if backend == "default" else 3
    out, _ = reindex("--no-progress", "--dry-run")
    assert summary(out) == (
        f"search_reindex: dry run: would change {missing} index rows (posts 3 read, {missing} written, 0 removed, "
        f"{people}, 0 written, 0 removed, {tags}, 0 written, 0 removed)"
    )
    assert found(alice, "quince") == []
    # and a run writes them
    out, _ = reindex("--no-progress", "--batch-size", "2")
    assert summary(out).startswith(
        f"search_reindex: changed {missing} index rows (posts 3 read, {missing} written, 0 removed"
    )
    assert found(alice, "quince") == [post.pk for post in reversed(made)]
    # and a second run changes nothing
    out, _ = reindex("--no-progress")
    assert summary(out).startswith("search_reindex: changed 0 index rows")


def test_removes_documents_the_triggers_would_not_have(backend, posts):
    alice, made = posts
    db = Post.objects.all().db
    # given stale documents: one of a post deleted without its triggers, one of no post at all
    Post.objects.filter(pk=made[0].pk).update(deleted_at=made[0].created_at)
    plant_document(db, made[0].pk, "Quince jam 0 #jam")
    plant_document(db, 10**9, "Quince from nowhere")
    assert indexed_post_ids(db) == {made[0].pk, made[1].pk, made[2].pk, 10**9}
    # visibility still hides them
    assert found(alice, "quince") == [made[2].pk, made[1].pk]
    # when the index is rebuilt they are removed
    out, _ = reindex("--no-progress", "--batch-size", "1")
    assert summary(out).startswith("search_reindex: changed 2 index rows (posts 3 read, 0 written, 2 removed")
    assert indexed_post_ids(db) == {made[1].pk, made[2].pk}


def test_shows_a_progress_bar_on_stderr(backend, posts):
    out, err = reindex()
    assert "row" in err and "100%" in err
    assert out.startswith("search_reindex: changed 0 index rows")


def test_refuses_a_batch_size_below_one(backend, posts):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        reindex("--batch-size", "0")


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_batch_waits_for_a_concurrent_edit_and_indexes_its_result(postgresql_database, user_factory):
    """PostgreSQL: a batch share-locks its posts, so an edit committing during the rebuild
    cannot be overwritten by the batch's older view of it."""
    import threading

    from django.db import connection, connections, transaction

    from search.stores.postgres import PostgresSearchStore

    alice = user_factory(username="alice")
    post = write(alice, "Old wording")
    edited, release = threading.Event(), threading.Event()
    editor_pid, rebuild_pid, rebuilt = [], [], []

    def edit():
        try:
            with transaction.atomic():
                Post.objects.filter(pk=post.pk).update(content="New wording")
                editor_pid.append(connection.connection.info.backend_pid)
                edited.set()
                release.wait(30)
        finally:
            connections.close_all()

    def rebuild():
        try:
            rebuild_pid.append(connection.connection.info.backend_pid if connection.connection else None)
            rebuilt.append(PostgresSearchStore().reindex(using="default"))
        finally:
            connections.close_all()

    editor = threading.Thread(target=edit)
    editor.start()
    assert edited.wait(30)
    rebuilder = threading.Thread(target=rebuild)
    rebuilder.start()
    # the rebuild's batch waits on the edited row's lock (seen by the server, not by a clock)
    with connections["default"].cursor() as cursor:
        for _ in range(600):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND %s = ANY(pg_blocking_pids(pid))",
                [editor_pid[0]],
            )
            if cursor.fetchone()[0] == 1:
                break
            threading.Event().wait(0.05)
        else:
            raise AssertionError("the rebuild never waited for the edit")
    release.set()
    editor.join(30)
    rebuilder.join(60)
    assert not rebuilder.is_alive() and rebuilt
    # the rebuild read the committed edit: the document is the new one, nothing to correct
    assert (rebuilt[0].written["posts"], rebuilt[0].removed["posts"]) == (0, 0)
    assert found(alice, "new wording") == [post.pk]
    assert found(alice, "old") == []
