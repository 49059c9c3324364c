"""JWT sessions: token families and the per-request revocation check.

Tokens are djangorestframework-simplejwt's. Its blacklist only covers refresh tokens, so on
its own a logout leaves the access tokens working until they expire (simplejwt issue #744).
Here every refresh and access token we issue carries a ``sid`` claim, the id of its
:class:`~bellamy.accounts.models.TokenFamily` (the login session), and:

- **logout / reuse of a rotated refresh token** revoke the family: its refresh tokens are
  refused by the refresh endpoint and its access tokens by :func:`is_token_revoked`, which every
  authenticated request and WebSocket handshake calls;
- **password change**: simplejwt's ``CHECK_REVOKE_TOKEN`` puts a hash of the password hash in
  every token and compares it with the user row that authentication loads anyway, so a changed
  password refuses every older token (of every family, and tokens minted outside a family)
  without a timestamp comparison — a login in the same second as the change is unaffected,
  which an ``iat`` cut-off (one-second resolution) could not guarantee; the families are
  revoked too;
- **suspension**: the user is inactive (refused on load) and the families are revoked, so an
  unsuspension does not revive them.

The revocation check costs one cache read per request. The cache holds ``live`` or
``revoked`` per family: a writer *sets* ``revoked`` after its transaction commits, a reader
that missed *adds* what the database says (``add`` never overwrites, so a reader that read the
database before a revocation committed cannot put ``live`` back over it). On a miss or when
the cache is unreachable the check reads the family row from the primary database; it never
answers "live" without one of the two. ``live`` entries expire after
:data:`LIVE_STATE_SECONDS`, which bounds how long a revocation whose cache write failed (the
cache was down at that moment, but not when the entry was read) can be missed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token

from bellamy.accounts.models import TokenFamily

logger = logging.getLogger(__name__)

#: The claim holding the token family (session) id.
SID_CLAIM = "sid"
#: Seconds a cached "live" family state is trusted before the database is read again.
LIVE_STATE_SECONDS = 60
LIVE = "live"
REVOKED = "revoked"


def family_key(sid: str) -> str:
    """Cache key of a family's state."""
    return f"auth:family:{sid}"


def _revoked_state_seconds() -> int:
    # After this long every access token of the family has expired; refresh tokens are
    # checked against the database on every refresh anyway.
    return int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()) + 60


class RotatableRefreshToken(RefreshToken):
    """A refresh token parsed without simplejwt's blacklist check (signature, expiry and type
    are still verified): the services decide what an already-rotated token means (reuse)."""

    def check_blacklist(self) -> None:
        return None


def parse_refresh(raw: str) -> RefreshToken:
    """Decode and verify refresh token ``raw`` (signature, expiry, type — not the blacklist).

    Raises:
        TokenError: garbage, expired, signed with another key, or not a refresh token.
    """
    return RotatableRefreshToken(raw)


def family_create(*, user) -> TokenFamily:
    """Start a token family (a login session) for ``user``. Events: none."""
    return TokenFamily.objects.create(user=user)


def refresh_token_for(*, user, family: TokenFamily) -> RefreshToken:
    """A new refresh token of ``user`` in ``family`` (recorded as outstanding by simplejwt).
    ``token.access_token`` copies the ``sid`` claim into the access token."""
    token = RefreshToken.for_user(user)
    token[SID_CLAIM] = str(family.pk)
    return token


def families_revoke(family_ids: Iterable, *, reason: str) -> list[uuid.UUID]:
    """Revoke the live families among ``family_ids`` (call inside the writer's transaction).

    The rows are updated at once; the cache is told after commit (``revoked`` overwrites any
    cached ``live``), so a rolled-back revocation never reaches it.

    Args:
        family_ids: TokenFamily ids.
        reason: a :class:`TokenFamily.Reason` value.
    Returns:
        The ids that were live and are now revoked.
    Events: none.
    """
    ids = list(
        TokenFamily.objects.filter(pk__in=list(family_ids), revoked_at__isnull=True).values_list("pk", flat=True)
    )
    if ids:
        TokenFamily.objects.filter(pk__in=ids).update(revoked_at=timezone.now(), revoked_reason=reason)
        transaction.on_commit(lambda: _cache_revoked(ids), robust=True)
    return ids


def _cache_revoked(ids: list[uuid.UUID]) -> None:
    try:
        cache.set_many({family_key(str(sid)): REVOKED for sid in ids}, timeout=_revoked_state_seconds())
    except Exception:  # the database has it; cached "live" entries expire within LIVE_STATE_SECONDS
        logger.warning("could not cache the revocation of %d token families", len(ids), exc_info=True)


def is_token_revoked(token: Token) -> bool:
    """True when ``token`` (a validated access or refresh token) belongs to a revoked family.

    Tokens without a ``sid`` claim (minted outside a login, e.g. by ``AccessToken.for_user``)
    belong to no family: they are only subject to the password-hash and active-user checks.

    Cost: one cache read; on a miss (or when the cache is unreachable) one primary-database
    read, then the state is cached (``add``).
    """
    sid = token.get(SID_CLAIM)
    if sid is None:
        return False
    key = family_key(str(sid))
    cache_ok = True
    try:
        state = cache.get(key)
    except Exception:
        logger.warning("token family cache unreachable; reading the database", exc_info=True)
        state, cache_ok = None, False
    if state is None:
        state = _family_state_from_database(str(sid))
        if cache_ok:
            timeout = LIVE_STATE_SECONDS if state == LIVE else _revoked_state_seconds()
            try:
                cache.add(key, state, timeout=timeout)
            except Exception:
                logger.warning("could not cache a token family state", exc_info=True)
    return state == REVOKED


def _family_state_from_database(sid: str) -> str:
    try:
        family_id = uuid.UUID(sid)
    except ValueError:
        return REVOKED
    # The primary: a replica could lag behind a revocation that just committed.
    row = TokenFamily.objects.using("default").filter(pk=family_id).values_list("revoked_at", flat=True)[:1]
    rows = list(row)
    return LIVE if rows and rows[0] is None else REVOKED
