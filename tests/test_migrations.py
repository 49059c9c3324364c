"""Every model change ships with its migration: ``manage.py makemigrations --check`` in the suite,
so CI fails when a migration is missing (not only when somebody remembers to run the command)."""

from io import StringIO

from django.core.management import call_command


def test_every_model_change_has_a_committed_migration(db):
    out = StringIO()
    # Exits with status 1 (SystemExit, failing the test) when a model has no migration.
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert out.getvalue() == "No changes detected\n"
