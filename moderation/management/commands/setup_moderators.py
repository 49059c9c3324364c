"""``manage.py setup_moderators [--add USERNAME ...]``: create or repair the ``moderators``
group (exactly :data:`moderation.services.MODERATOR_PERMISSIONS`) and make the given users
moderators (staff, in the group). Idempotent: a second run changes nothing."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from moderation.services import MODERATOR_PERMISSIONS, moderator_add, moderators_group_sync


class Command(BaseCommand):
    help = "Create or repair the moderators group and optionally add users to it (--add USERNAME)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--add", action="append", default=[], metavar="USERNAME",
            help="Make this user a moderator (staff + group); repeat for several users.",
        )

    def handle(self, *args, add: list[str], **options):
        User = get_user_model()
        users = []
        for username in add:
            user = User.objects.filter(username__iexact=username).first()
            if user is None:
                raise CommandError(f"No user named {username!r}; nothing was changed.")
            users.append(user)
        with transaction.atomic():
            group, changed = moderators_group_sync()
            added = sum(moderator_add(user=user) for user in users)
        self.stdout.write(
            f"moderators group {'updated' if changed else 'unchanged'} "
            f"({len(MODERATOR_PERMISSIONS)} permissions); "
            f"{added} user(s) made moderator, {len(users) - added} already moderator(s); "
            f"{group.user_set.count()} moderator(s) in total"
        )
