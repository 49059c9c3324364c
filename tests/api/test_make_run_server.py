"""The bad inputs of the black-box probe, sent to a real ``make run`` server (Daphne, DEBUG on,
SQLite): each answer is a 4xx in the API's JSON error shape."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.web_server import WebServer, embedded_env, migrate

pytestmark = [pytest.mark.slow]

NOT_FOUND = {"detail": "No such resource: check the path and that ids are integers.", "code": "not_found"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("make-run")
    env = {**embedded_env(tmp_path / "db.sqlite3"), "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"]}
    migrate(env)
    with WebServer(env, tmp_path / "web.log") as web, httpx.Client(base_url=web.base_url, timeout=60) as http:
        created = http.post("/api/auth/register", json={"username": "alice", "email": "alice@example.org",
                                                        "password": "a long passphrase 42"})
        assert created.status_code == 201, created.text
        token = http.post("/api/auth/token", json={"username": "alice", "password": "a long passphrase 42"})
        assert token.status_code == 200, token.text
        http.headers["Authorization"] = f"Bearer {token.json()['access']}"
        yield http


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/posts/abc"), ("delete", "/api/posts/-1"), ("delete", "/api/blocks/9223372036854775808"),
     ("delete", "/api/friends/9223372036854775808"), ("get", "/api/no/such/route")],
)
def test_unknown_paths_are_json_404(server, method, path):
    response = server.request(method.upper(), path)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == NOT_FOUND


def test_a_10_mb_body_is_413_json(server):
    response = server.post("/api/auth/token", content=b'{"username": "' + b"x" * (10 * 1024 * 1024) + b'"}',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large: at most 2621440 bytes.", "code": "request_too_large"}


@pytest.mark.parametrize("path", ["/api/auth/token", "/api/auth/token/refresh"])
def test_json_nested_1000_levels_is_400_json(server, path):
    response = server.post(path, content="[" * 1000 + "]" * 1000, headers={"Content-Type": "application/json",
                                                                          "Authorization": ""})
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested deeper than 32 levels.", "code": "parse_error"}
