"""Schemathesis over the whole OpenAPI schema against a real server: no 5xx, and every response
conforms to the schema (status code, content type, headers, body), for valid and invalid data.

The server runs the production settings (PostgreSQL, Redis; Celery eager, events in-process)
and schemathesis authenticates with a real access token of a registered user. Each operation
gets at most ``BELLAMY_SCHEMATHESIS_EXAMPLES`` generated cases (default 15: about 1-2 minutes
on 2 cores) from a fixed seed (``BELLAMY_SCHEMATHESIS_SEED`` to explore others), in every
phase: the schema's examples, coverage of its constraints (negative values included), random
fuzzing and stateful sequences that follow the links between operations.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.live_stack import current_database_url
from tests.web_server import WebServer, production_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase 42"
EXAMPLES = int(os.environ.get("BELLAMY_SCHEMATHESIS_EXAMPLES", "15"))
SEED = os.environ.get("BELLAMY_SCHEMATHESIS_SEED", "20261202")
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
])


@pytest.fixture
def server(tmp_path):
    env = {
        **production_env(current_database_url(), key_prefix=f"fuzz{os.getpid()}"),
        "BELLAMY_THROTTLE_PASSWORD": "10000/min",
    }
    with WebServer(env, tmp_path / "web.log") as web:
        yield web


def access_token(server: WebServer) -> str:
    """Register a user with a friend and a post, and log in: a real access token."""
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        ids = {}
        for name in ("fuzzer", "buddy"):
            created = http.post("/api/auth/register", json={"username": name, "email": f"{name}@example.org",
                                                            "password": PASSWORD})
            assert created.status_code == 201, created.text
            ids[name] = created.json()["id"]
        tokens = {name: http.post("/api/auth/token", json={"username": name, "password": PASSWORD}).json()["access"]
                  for name in ("fuzzer", "buddy")}
        fuzzer = {"Authorization": f"Bearer {tokens['fuzzer']}"}
        request = http.post("/api/friends/requests", json={"to_user_id": ids["buddy"]}, headers=fuzzer)
        assert request.status_code == 201, request.text
        accepted = http.post(f"/api/friends/requests/{request.json()['id']}/accept",
                             headers={"Authorization": f"Bearer {tokens['buddy']}"})
        assert accepted.status_code == 200, accepted.text
        post = http.post(f"/api/Post/users/{ids['fuzzer']}", json={"content": "Hello #fuzzing @buddy"}, headers=fuzzer)
        assert post.status_code == 201, post.text
        return tokens["fuzzer"]


def test_the_whole_schema_holds_for_valid_and_invalid_data(server, tmp_path):
    token = access_token(server)
    # when
    result = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", f"{server.base_url}/api/schema/?format=json",
         "--header", f"Authorization: Bearer {token}", "--checks", CHECKS, "--mode", "all",
         "--max-examples", str(EXAMPLES), "--seed", SEED, "--workers", "2", "--no-color",
         "--generation-database", "none", "--report", "junit", "--report-dir", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=900,
    )
    output = result.stdout + result.stderr
    # then: every operation was tested, nothing failed, the server logged no error
    counts = re.search(r"Test cases:\s+(\d+) generated, (\d+) found (\d+) unique failures?", output) or re.search(
        r"Test cases:\s+(\d+) generated, (\d+) passed", output
    )
    print(output[output.find("SUMMARY"):])
    assert result.returncode == 0, output[-6000:]
    assert re.search(r"Selected: (\d+)/\1", output), output[-3000:]
    assert counts is not None and int(counts.group(1)) > 0, output[-3000:]
    assert "Internal Server Error" not in server.log(), server.log()[-6000:]
