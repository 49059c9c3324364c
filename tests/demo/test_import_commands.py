"""The dataset importer commands (``posts_import_tweets``, ``graph_import_interactions``): one
argument handling for both — bad options and unreadable files are refused before anything is
written, a PATH overrides the datasets directory, ``--dry-run`` writes nothing."""

from __future__ import annotations

import gzip
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from graph.stores import get_graph_store
from posts.models import Post

COMMANDS = ("posts_import_tweets", "graph_import_interactions")


def messages_file(tmp_path, text: str):
    """A gzip CollegeMsg file holding ``text``, and the ego-Facebook users of CollegeMsg users
    1, 2 and 3 (nodes 922, 1844, 2766); returns ``(path, {username: id})``."""
    path = tmp_path / "messages.txt.gz"
    with gzip.open(path, "wt", encoding="ascii") as handle:
        handle.write(text)
    User = get_user_model()
    User.objects.bulk_create([User(username=f"fb{node}") for node in (922, 1844, 2766)])
    return path, dict(User.objects.values_list("username", "id"))


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, no_progress=True, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue().strip()


@pytest.mark.django_db
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("options", "message"), [
    ({"limit": -1}, "--limit must be >= 0"),
    ({"batch_size": 0}, "--batch-size must be >= 1"),
])
def test_bad_options_are_refused_and_nothing_is_written(command, options, message):
    with pytest.raises(CommandError, match=f"^{message}$"):
        run(command, **options)
    assert Post.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_file_is_a_command_error(command, tmp_path):
    missing = tmp_path / "nope.gz"
    with pytest.raises(CommandError, match=f"^cannot read {missing}: "):
        run(command, str(missing))


@pytest.mark.django_db
@pytest.mark.parametrize("command", COMMANDS)
def test_without_path_a_missing_datasets_directory_is_named(command, tmp_path, monkeypatch):
    monkeypatch.setenv("BELLAMY_DATASETS_DIR", str(tmp_path))
    with pytest.raises(CommandError, match=f"^dataset file {tmp_path}/.+ not found \\(set BELLAMY_DATASETS_DIR"):
        run(command)


@pytest.mark.django_db
def test_interactions_from_a_given_path_dry_run_counts_and_writes_nothing(tmp_path):
    # given: three messages between CollegeMsg users 1, 2 and 3 and their ego-Facebook users;
    # the third line is a comment
    path, ids = messages_file(tmp_path, "1 2 1000\n2 3 1000\n# note\n1 2 1000\n")

    # when
    line = run("graph_import_interactions", str(path), dry_run=True)

    # then: two directed pairs (1→2 twice: 4.0; 2→3: 2.0), nothing stored
    assert line.startswith(
        "would write 2 interaction weights from 3 messages of 3 users "
        "(decayed as of 1970-01-01T00:16:40+00:00, stamped now; max weight 4.000) in "
    )
    assert get_graph_store().weight(ids["fb922"], ids["fb1844"]) == 0.0


@pytest.mark.django_db
def test_interactions_limit_reads_only_the_first_messages(tmp_path):
    path, _ids = messages_file(tmp_path, "1 2 1000\n2 3 2000\n")

    line = run("graph_import_interactions", str(path), limit=1, dry_run=True)

    assert line.startswith("would write 1 interaction weights from 1 messages of 2 users "
                           "(decayed as of 1970-01-01T00:16:40+00:00, stamped now; max weight 2.000) in ")
