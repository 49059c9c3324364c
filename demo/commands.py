"""What the dataset importer commands share: ``[PATH] [--limit N] [--batch-size N] [--dry-run]
[--no-progress]``, their checks, the progress bar and the summary line.

``posts_import_tweets`` and ``graph_import_interactions`` are :class:`DatasetImportCommand`
subclasses that name their file, their defaults and the two importer functions of
:mod:`demo.importers` they call.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from demo.importers import DatasetError, dataset_path


class DatasetImportCommand(BaseCommand):
    """A bulk import of one dataset file (read in place) through :mod:`demo.importers`.

    Subclasses set:

    - ``dataset_file``: the file inside the datasets directory, used when no PATH is given;
    - ``default_batch_size`` and the help texts ``limit_help``, ``batch_size_help``,
      ``dry_run_help``;
    - ``progress``: keyword arguments of the :class:`tqdm.tqdm` bar (``unit``, ``desc``);
      ``progress_total``: whether the bar's total is the number of rows read;
    - ``read(path, *, limit)``: the rows (raises :class:`~demo.importers.DatasetError`), e.g.
      ``staticmethod(read_tweets)``;
    - ``load(rows, *, batch_size, dry_run, on_batch)``: the import, e.g.
      ``staticmethod(import_tweets)``; returns a result with ``summary(dry_run=...)``, the one
      line the command prints.

    A negative ``--limit``, a ``--batch-size`` below 1 and a missing or malformed file are a
    :class:`~django.core.management.base.CommandError` before anything is written.
    """

    dataset_file: str
    default_batch_size: int
    limit_help: str
    batch_size_help: str
    dry_run_help: str
    progress: dict
    progress_total: bool = False

    def read(self, path: Path, *, limit: int | None) -> list:
        raise NotImplementedError

    def load(self, rows: list, *, batch_size: int, dry_run: bool, on_batch: Callable[[int], None]):
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", type=Path, help=f"default: <datasets>/{self.dataset_file}")
        parser.add_argument("--limit", type=int, default=None, help=self.limit_help)
        parser.add_argument("--batch-size", type=int, default=self.default_batch_size, help=self.batch_size_help)
        parser.add_argument("--dry-run", action="store_true", help=self.dry_run_help)
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, path, limit, batch_size, dry_run, no_progress, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be >= 1")
        if limit is not None and limit < 0:
            raise CommandError("--limit must be >= 0")
        try:
            rows = self.read(path or dataset_path(self.dataset_file), limit=limit)
            total = {"total": len(rows)} if self.progress_total else {}
            with tqdm(**total, **self.progress, disable=no_progress, file=self.stderr._out) as bar:
                result = self.load(rows, batch_size=batch_size, dry_run=dry_run, on_batch=bar.update)
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(result.summary(dry_run=dry_run))
