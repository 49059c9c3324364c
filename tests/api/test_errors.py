"""The API's error shape for failures that do not come from a view's own checks."""

from __future__ import annotations

import sqlite3

from django.db import OperationalError
from rest_framework.exceptions import NotFound

from bellamy.api.exceptions import exception_handler


def test_an_api_exception_gets_a_code():
    response = exception_handler(NotFound("No such post.", code="post_not_found"), {})
    assert (response.status_code, response.data) == (404, {"detail": "No such post.", "code": "post_not_found"})


def test_a_lock_wait_past_the_busy_timeout_is_503_with_retry_after():
    # given: what Django raises when SQLite's busy timeout runs out
    try:
        raise OperationalError("database is locked") from sqlite3.OperationalError("database is locked")
    except OperationalError as exc:
        error = exc
    # when
    response = exception_handler(error, {})
    # then
    assert response.status_code == 503
    assert response.data == {"detail": "The database is busy; retry in a moment.", "code": "database_busy"}
    assert response["Retry-After"] == "1"


def test_other_database_errors_stay_server_errors():
    assert exception_handler(OperationalError("no such table: posts_post"), {}) is None
