"""REST authentication: simplejwt's ``JWTAuthentication`` plus the token-family check.

simplejwt loads the user (refusing unknown and inactive users) and, with
``CHECK_REVOKE_TOKEN``, refuses a token minted before the last password change; this class
also refuses the tokens of a revoked family — a logged-out session — from the moment of the
logout, not when they expire (:mod:`bellamy.accounts.tokens`).
"""

from __future__ import annotations

from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import authentication

from bellamy.accounts.tokens import is_token_revoked


class JWTAuthentication(authentication.JWTAuthentication):
    """``Authorization: Bearer <access>``; 401 ``token_revoked`` for a logged-out session."""

    def get_user(self, validated_token):
        if is_token_revoked(validated_token):
            raise AuthenticationFailed("This session has ended; log in again.", code="token_revoked")
        return super().get_user(validated_token)
