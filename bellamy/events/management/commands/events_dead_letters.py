"""``manage.py events_dead_letters --list | --replay [ID ...] | --purge [ID ...]``: the batches
event tasks gave up on (:class:`~bellamy.events.models.DeadLetter`).

* ``--list`` (the default): one line per pending dead letter (``--all``: replayed ones too),
  oldest first — id, task, queue, events, attempts, last failure, reason.
* ``--replay [ID ...]``: hand the given pending dead letters (default: every pending one, or those
  of ``--task``) to their task again, on their queue, and mark them replayed
  (:func:`bellamy.events.services.dead_letter_replay`). The task skips events it handled since, so
  a replay is safe to repeat; a batch that fails again becomes a new dead letter.
* ``--purge [ID ...]``: delete the given dead letters (default: every *replayed* one; add
  ``--pending`` to delete pending ones too — their batches are then gone for good).

``--task NAME`` narrows any action to one task; ``--dry-run`` counts and changes nothing;
``--no-progress`` hides the progress bar. Ends with one summary line; exits non-zero when a
replay failed.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from bellamy.events.models import DeadLetter
from bellamy.events.services import dead_letter_replay


class Command(BaseCommand):
    help = "List, replay or purge dead letters (batches event tasks gave up on)."

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--list", action="store_true", help="List dead letters (the default action).")
        action.add_argument("--replay", nargs="*", type=int, metavar="ID",
                            help="Replay these pending dead letters (none given: every pending one).")
        action.add_argument("--purge", nargs="*", type=int, metavar="ID",
                            help="Delete these dead letters (none given: every replayed one).")
        parser.add_argument("--all", dest="include_replayed", action="store_true",
                            help="--list: include replayed dead letters.")
        parser.add_argument("--pending", action="store_true",
                            help="--purge without ids: delete pending dead letters too.")
        parser.add_argument("--task", help="Only dead letters of this task name.")
        parser.add_argument("--dry-run", action="store_true", help="Count only; change nothing.")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, replay, purge, include_replayed, pending, task, dry_run, no_progress, **options):
        letters = DeadLetter.objects.order_by("id")
        if task:
            letters = letters.filter(task_name=task)
        if replay is not None:
            return self._replay(letters, replay, dry_run=dry_run, no_progress=no_progress)
        if purge is not None:
            return self._purge(letters, purge, pending=pending, dry_run=dry_run, no_progress=no_progress)
        if pending:
            raise CommandError("--pending goes with --purge")
        return self._list(letters if include_replayed else letters.filter(replayed_at__isnull=True))

    @staticmethod
    def _selected(letters, ids: list[int]):
        if not ids:
            return letters
        found = set(letters.filter(pk__in=ids).values_list("pk", flat=True))
        missing = sorted(set(ids) - found)
        if missing:
            raise CommandError(f"no such dead letter: {', '.join(map(str, missing))}")
        return letters.filter(pk__in=ids)

    def _list(self, letters) -> None:
        rows = list(letters)
        for letter in rows:
            state = f"replayed {letter.replayed_at:%Y-%m-%d %H:%M:%S}" if letter.replayed_at else "pending"
            reason = letter.reason.splitlines()[0] if letter.reason else ""
            self.stdout.write(
                f"{letter.pk:>6}  {letter.task_name}  queue={letter.queue or '-'}  events={letter.event_count}  "
                f"attempts={letter.attempts}  last={letter.last_failed_at:%Y-%m-%d %H:%M:%S}  {state}  "
                f"{reason[:120]}"
            )
        pending = sum(1 for letter in rows if letter.replayed_at is None)
        self.stdout.write(f"{len(rows)} dead letters listed ({pending} pending, "
                          f"{sum(letter.event_count for letter in rows)} events)")

    def _replay(self, letters, ids: list[int], *, dry_run: bool, no_progress: bool) -> None:
        selected = self._selected(letters, ids)
        replayed_already = list(selected.exclude(replayed_at=None).values_list("pk", flat=True))
        if ids and replayed_already:
            raise CommandError(f"already replayed: {', '.join(map(str, replayed_already))} "
                               "(a batch that failed again is a new dead letter)")
        todo = list(selected.filter(replayed_at__isnull=True))
        events = sum(letter.event_count for letter in todo)
        if dry_run:
            self.stdout.write(f"would replay {len(todo)} dead letters ({events} events)")
            return
        started = time.perf_counter()
        failures: list[str] = []
        with tqdm(total=len(todo), unit="letter", disable=no_progress, file=self.stderr._out) as bar:
            for letter in todo:
                try:
                    dead_letter_replay(letter=letter)
                except Exception as exc:  # reported; the letter stays pending
                    failures.append(f"{letter.pk}: {type(exc).__name__}: {exc}")
                bar.update(1)
        for failure in failures:
            self.stderr.write(f"replay failed for dead letter {failure}")
        self.stdout.write(f"replayed {len(todo) - len(failures)} dead letters ({events} events), "
                          f"{len(failures)} failed, in {time.perf_counter() - started:.1f} s")
        if failures:
            raise CommandError(f"{len(failures)} replay(s) failed; those dead letters stay pending")

    def _purge(self, letters, ids: list[int], *, pending: bool, dry_run: bool, no_progress: bool) -> None:
        selected = self._selected(letters, ids)
        if not ids and not pending:
            selected = selected.exclude(replayed_at=None)
        pks = list(selected.values_list("pk", flat=True))
        still_pending = selected.filter(replayed_at__isnull=True).count()
        if dry_run:
            self.stdout.write(f"would purge {len(pks)} dead letters ({still_pending} pending)")
            return
        started = time.perf_counter()
        deleted = 0
        with tqdm(total=len(pks), unit="letter", disable=no_progress, file=self.stderr._out) as bar:
            for start in range(0, len(pks), 500):
                chunk = pks[start:start + 500]
                deleted += DeadLetter.objects.filter(pk__in=chunk).delete()[0]
                bar.update(len(chunk))
        self.stdout.write(f"purged {deleted} dead letters ({still_pending} were pending) "
                          f"in {time.perf_counter() - started:.1f} s")
