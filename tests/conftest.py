"""Shared fixtures: real services, isolation per test session, factories.

Service URLs come from the environment (``make test`` sets them to the servers that
``bin/services`` starts). Under ``BELLAMY_REQUIRE_SERVICES=1`` a service that does not answer
fails the test; otherwise the test is skipped with the reason, so a developer without the
services can still run the fast tests.
"""

from __future__ import annotations

import os
import uuid

import pytest
from django.core.cache import cache

from bellamy.backends import reset_backend

#: Unique per test session: Kafka topic prefix / consumer groups, MongoDB database, key prefixes.
SESSION_TAG = uuid.uuid4().hex[:8]

KAFKA_URL = os.environ.get("BELLAMY_TEST_KAFKA_URL", "kafka://127.0.0.1:9092")
MONGO_URL = os.environ.get("BELLAMY_TEST_MONGO_URL", "mongodb://127.0.0.1:27017")
NEO4J_URL = os.environ.get("BELLAMY_TEST_NEO4J_URL", "bolt://neo4j:neo4j@127.0.0.1:7687")
REDIS_TEST_URL = os.environ.get("BELLAMY_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
POSTGRES_URL = os.environ.get(
    "BELLAMY_TEST_POSTGRES_URL", "postgres://bellamy:bellamy@127.0.0.1:5432/bellamy"
)


def services_required() -> bool:
    """True when the run was told that every service must answer (CI, ``make test``)."""
    return os.environ.get("BELLAMY_REQUIRE_SERVICES", "") in ("1", "true", "yes")


def service_unavailable(name: str, exc: BaseException) -> None:
    """Fail (services required) or skip (otherwise) because ``name`` did not answer."""
    message = f"{name} is not answering: {type(exc).__name__}: {exc}"
    if services_required():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _isolated_backends():
    """Every test starts with fresh backend instances and an empty cache."""
    reset_backend()
    cache.clear()
    yield
    reset_backend()


@pytest.fixture(autouse=True)
def _test_namespace(settings):
    """Tests run in a namespace of their own (``test<session tag>``), so a store built from the
    settings without an explicit namespace (the Neo4j graph store) never writes into the
    ``bellamy`` namespace of a stack sharing the server."""
    settings.BELLAMY_NAMESPACE = f"test{SESSION_TAG}"


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """Hash passwords with MD5 in tests: PBKDF2 costs ~0.5 s per user (tests only)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api_client():
    """An anonymous DRF test client."""
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def client_for():
    """``client_for(user)`` → an APIClient sending a real ``Bearer`` access token of ``user``."""
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    def make(user):
        client = APIClient()
        token = RefreshToken.for_user(user).access_token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make


@pytest.fixture
def user_factory(db):
    """The :class:`tests.factories.UserFactory` with database access enabled."""
    from tests.factories import UserFactory

    return UserFactory


@pytest.fixture
def befriend(db):
    """``befriend(a, b)`` makes users ``a`` and ``b`` friends (a Friendship row, no events)."""
    from graph.models import Friendship

    def make(a, b):
        low, high = sorted((a.pk, b.pk))
        return Friendship.objects.create(user_low_id=low, user_high_id=high)

    return make


@pytest.fixture
def block(db):
    """``block(blocker, blocked)`` records a block (a Block row, no events)."""
    from graph.models import Block

    def make(blocker, blocked):
        return Block.objects.create(blocker=blocker, blocked=blocked)

    return make
