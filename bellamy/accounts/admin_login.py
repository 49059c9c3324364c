"""Brute-force protection of the admin login (``/admin/login/``) with django-axes.

Staff accounts can hide and suspend, so their login gets stronger protection than the API's
rate throttle: django-axes counts *failed* logins per client address, locks the address out
after ``AXES_FAILURE_LIMIT`` failures for ``AXES_COOLOFF_TIME`` (the right password is refused
too while locked), resets on success, and keeps every attempt in its tables (visible in the
admin under "Axes"; ``manage.py axes_reset`` lifts lockouts). See the settings' "Admin login
protection" block.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from rest_framework.throttling import BaseThrottle


def client_ip(request) -> str | None:
    """The client address of ``request`` as the API's throttles see it: ``REMOTE_ADDR``, or
    the right entry of ``X-Forwarded-For`` behind ``BELLAMY_NUM_PROXIES`` trusted proxies."""
    return BaseThrottle().get_ident(request)


class AdminLoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' backend, which refuses locked-out clients before any password check.

    ``authenticate()`` calls without a request (scripts, shells) have no client to lock out:
    they go straight to the next backend instead of failing as axes would.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
