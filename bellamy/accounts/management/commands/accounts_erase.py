"""``manage.py accounts_erase [--user ID ...] [--force] [--limit N] [--dry-run] [--status]``:
carry out account deletions (README "Account lifecycle"), as the beat task
``accounts.erase_due_accounts_task`` does every 5 minutes.

Without options: erase every account whose deletion is due (``user.deleted`` each), then finish
the erasures whose every store has handled the event (the anonymised rows are deleted).

- ``--user ID`` (repeatable): only these accounts; with ``--force`` they are erased even if no
  deletion was requested (irreversible: the operator's deletion, e.g. after a legal request).
- ``--dry-run``: print what would be erased and completed; write nothing.
- ``--status``: list the erasures still in progress with the handlers that have not run.

Idempotent (an erased account is skipped). Prints one summary line; exit code 0, or 1
(CommandError) for a bad argument or an unknown user id.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from bellamy.accounts import lifecycle, selectors
from bellamy.accounts.models import AccountErasure


class Command(BaseCommand):
    help = "Erase the accounts whose deletion is due (or the given ones) and finish erasures every store has handled."

    def add_arguments(self, parser):
        parser.add_argument("--user", type=int, action="append", default=[], metavar="ID",
                            help="only this account (repeatable)")
        parser.add_argument("--force", action="store_true",
                            help="with --user: erase even if no deletion was requested (irreversible)")
        parser.add_argument("--limit", type=int, default=1000, help="most accounts erased per run (default 1000)")
        parser.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
        parser.add_argument("--status", action="store_true", help="list the erasures still in progress")

    def handle(self, *args, user: list[int], force: bool, limit: int, dry_run: bool, status: bool, **options):
        if limit < 1:
            raise CommandError("--limit must be >= 1")
        if force and not user:
            raise CommandError("--force needs --user ID: it never applies to every account")
        if status:
            self._status()
            return
        if user:
            known = set(get_user_model().objects.filter(pk__in=user).values_list("pk", flat=True))
            missing = sorted(set(user) - known)
            if missing:
                raise CommandError(f"unknown user id(s): {', '.join(map(str, missing))}")
        now = timezone.now()
        if dry_run:
            due = selectors.erasures_due(now=now, limit=limit)
            if user:
                candidates = get_user_model().objects.filter(pk__in=user, erased_at__isnull=True)
                due = sorted(candidates.values_list("pk", flat=True)) if force else [u for u in due if u in set(user)]
            ready = [e.user_id for e in AccountErasure.objects.filter(completed_at__isnull=True)
                     if all(lifecycle.erasure_progress(e).values())]
            self.stdout.write(f"would erase {len(due)} account(s) {due}; would complete {len(ready)} erasure(s) {ready}")
            return
        if user:
            erased = []
            for user_id in sorted(set(user))[:limit]:
                if lifecycle.account_erase(user_id=user_id, force=force) is not None:
                    erased.append(user_id)
        else:
            erased = lifecycle.accounts_erase_due(limit=limit)
        completed = lifecycle.account_erasures_complete(limit=limit)
        pending = AccountErasure.objects.filter(completed_at__isnull=True).count()
        self.stdout.write(
            f"erased {len(erased)} account(s) {erased}; completed {len(completed)} erasure(s) {completed}; "
            f"{pending} in progress"
        )

    def _status(self) -> None:
        pending = list(AccountErasure.objects.filter(completed_at__isnull=True).order_by("erased_at"))
        for erasure in pending:
            waiting = [task for task, done in lifecycle.erasure_progress(erasure).items() if not done]
            self.stdout.write(
                f"user {erasure.user_id} erased at {erasure.erased_at.isoformat()} "
                f"(event {erasure.event_id}): waiting for {', '.join(waiting) or 'nothing (completes on the next run)'}"
            )
        self.stdout.write(f"{len(pending)} erasure(s) in progress")
