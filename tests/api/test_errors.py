"""The API's error shape for failures that do not come from a view's own checks."""

from __future__ import annotations

import json
import sqlite3

import pytest
from django.core.exceptions import BadRequest, RequestDataTooBig
from django.db import OperationalError
from psycopg.errors import AdminShutdown
from psycopg_pool import PoolTimeout
from rest_framework.exceptions import NotFound

from bellamy.api.exceptions import bad_request, exception_handler


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


def test_no_pooled_connection_within_the_pool_timeout_is_503_with_retry_after():
    # given: what Django raises when every connection of the process's pool stays lent past
    # BELLAMY_DB_POOL_TIMEOUT (psycopg_pool's PoolTimeout, wrapped)
    try:
        raise OperationalError("couldn't get a connection after 10.00 sec") from PoolTimeout(
            "couldn't get a connection after 10.00 sec")
    except OperationalError as exc:
        error = exc
    # when
    response = exception_handler(error, {})
    # then: back-pressure the client can act on, not a server error
    assert (response.status_code, response["Retry-After"]) == (503, "1")
    assert response.data == {"detail": "The database is busy; retry in a moment.", "code": "database_busy"}


def test_postgresql_shutting_down_under_the_request_is_503_with_retry_after():
    # given: what Django raises when PostgreSQL restarts under a request's connection
    try:
        raise OperationalError("terminating connection due to administrator command") from AdminShutdown(
            "terminating connection due to administrator command")
    except OperationalError as exc:
        error = exc
    # when
    response = exception_handler(error, {})
    # then
    assert (response.status_code, response["Retry-After"]) == (503, "5")
    assert response.data == {"detail": "The database is unavailable; retry in a moment.",
                             "code": "database_unavailable"}


def test_other_database_errors_stay_server_errors():
    assert exception_handler(OperationalError("no such table: posts_post"), {}) is None


def test_a_body_over_the_limit_read_by_drf_is_413():
    # Django raises RequestDataTooBig when DRF reads a body without Content-Length past the limit.
    response = exception_handler(RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE."), {})
    assert response.status_code == 413
    assert response.data == {"detail": "Request body too large: at most 2621440 bytes.", "code": "request_too_large"}


def test_handler400_answers_the_api_shape_on_api_paths_only(rf):
    assert json.loads(bad_request(rf.post("/api/auth/token"), BadRequest("x")).content) == {
        "detail": "Bad request.", "code": "bad_request",
    }
    too_large = bad_request(rf.post("/api/auth/token"), RequestDataTooBig("x"))
    assert (too_large.status_code, json.loads(too_large.content)["code"]) == (413, "request_too_large")
    admin = bad_request(rf.post("/admin/login/"), BadRequest("x"))
    assert (admin.status_code, admin["Content-Type"]) == (400, "text/html; charset=utf-8")


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/posts/abc"), ("delete", "/api/posts/-1"), ("get", "/api/nothing/here"), ("post", "/api/feed/x")],
)
def test_every_api_404_is_json_with_or_without_debug(client_for, user_factory, settings, debug, method, path):
    settings.DEBUG = debug
    response = getattr(client_for(user_factory(username="alice")), method)(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "No such resource: check the path and that ids are integers.", "code": "not_found"}


@pytest.mark.django_db
def test_missing_slash_still_redirects(api_client, settings):
    # APPEND_SLASH keeps working on the API (the middleware leaves redirects alone).
    settings.DEBUG = True
    response = api_client.get("/api/feed")
    assert (response.status_code, response["Location"]) == (301, "/api/feed/")
