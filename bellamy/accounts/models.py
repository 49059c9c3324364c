"""The custom user of Bellamy Book (set before the first migration, as Django advises)."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class User(AbstractUser):
    """A person with an account.

    ``username`` is unique case-insensitively (``Alice`` and ``alice`` cannot both exist);
    ``display_name`` and ``bio`` are the public profile. A suspended user is ``is_active=False``:
    they can neither log in nor use tokens issued before the suspension.
    """

    display_name = models.CharField(max_length=100, blank=True)
    bio = models.TextField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), name="accounts_user_username_ci_unique"),
            # One account per e-mail address, case-insensitively (blank e-mails are exempt).
            models.UniqueConstraint(
                Lower("email"), condition=~Q(email=""), name="accounts_user_email_ci_unique"
            ),
        ]
        indexes = [
            # Prefix search on username / display name (``LIKE 'abc%'`` on the lower-cased value).
            models.Index(Lower("username"), name="accounts_user_username_lower"),
            models.Index(Lower("display_name"), name="accounts_user_display_lower"),
        ]

    def __str__(self) -> str:
        return self.username
