"""Read-replica routing with read-your-writes (bellamy/db_router.py)."""

import pytest
from django.conf import settings

from bellamy.db_router import ReplicaRouter, pin_to_primary, replica_reads
from posts.models import Post

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_replica(monkeypatch):
    monkeypatch.setitem(settings.DATABASES, "replica", {**settings.DATABASES["default"], "TEST": {"MIRROR": "default"}})


def test_reads_go_to_the_replica_only_inside_replica_reads(with_replica, user_factory):
    router, user = ReplicaRouter(), user_factory()
    assert router.db_for_read(Post) is None
    with replica_reads(user) as use:
        assert (use, router.db_for_read(Post), router.db_for_write(Post)) == (True, "replica", "default")
    assert router.db_for_read(Post) is None


def test_a_users_own_write_pins_their_reads_to_the_primary(with_replica, user_factory):
    router, writer, other = ReplicaRouter(), user_factory(), user_factory()
    pin_to_primary(writer.pk)
    with replica_reads(writer) as use:
        assert (use, router.db_for_read(Post)) == (False, None)
    with replica_reads(other):
        assert router.db_for_read(Post) == "replica"


def test_without_a_replica_everything_stays_on_default(user_factory):
    with replica_reads(user_factory()) as use:
        assert (use, ReplicaRouter().db_for_read(Post)) == (False, None)


def test_unsafe_requests_pin_the_caller(with_replica, user_factory, client_for):
    from django.core.cache import cache

    user = user_factory()
    client_for(user).post(f"/api/Post/users/{user.pk}", {"content": "hi"}, format="json")
    assert cache.get(f"db:pinned:{user.pk}") == 1
