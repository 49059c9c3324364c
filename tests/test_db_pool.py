"""PostgreSQL connection pooling: settings, and the budget held by a real multi-process web server.

Before pooling, the ASGI server ran each request's synchronous code in its own thread and
each thread kept its own connection (``CONN_MAX_AGE=60``): 200 concurrent feed reads reached
the server's ``max_connections`` (500 "too many clients") and left idle connections open.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from bellamy import config
from tests.conftest import service_unavailable
from tests.live_stack import LiveStack, current_database_url


def test_postgres_aliases_get_a_pool_sized_from_the_settings(tmp_path):
    sizes = config.PoolSizes(min_size=2, max_size=7, timeout=3.0, max_idle=12.0)
    dbs = config.databases("postgres://u:p@db:5432/app", "postgres://u:p@replica:5432/app", base_dir=tmp_path,
                           pool=sizes)
    expected = {"min_size": 2, "max_size": 7, "timeout": 3.0, "max_idle": 12.0}
    for alias in ("default", "replica"):
        assert dbs[alias]["OPTIONS"]["pool"] == expected
        # Django refuses a pool with persistent connections; the pool checks what it lends.
        assert (dbs[alias]["CONN_MAX_AGE"], dbs[alias]["CONN_HEALTH_CHECKS"]) == (0, True)
    assert config.databases("postgres://u:p@db:5432/app", "", base_dir=tmp_path)["default"]["OPTIONS"]["pool"] == {
        "min_size": 1, "max_size": 4, "timeout": 10.0, "max_idle": 30.0}


def test_sqlite_gets_no_pool(tmp_path):
    assert "pool" not in config.databases("", "", base_dir=tmp_path)["default"]["OPTIONS"]


@pytest.mark.parametrize("kwargs", [{"min_size": 5, "max_size": 4}, {"min_size": 0, "max_size": 0},
                                    {"min_size": -1}, {"timeout": 0}, {"max_idle": -1.0}])
def test_impossible_pool_sizes_refuse_to_start(kwargs):
    with pytest.raises(ImproperlyConfigured, match="database pool"):
        config.PoolSizes(**kwargs)


def test_the_test_settings_use_the_pool():
    assert connection.settings_dict["OPTIONS"]["pool"]["max_size"] >= 1
    assert connection.pool is not None


#: application_name of the web server's connections, so only they are counted.
APPLICATION_NAME = "bellamy-pool-test"


def _server_connections() -> int:
    """Open connections of the web server under test (pg_stat_activity)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APPLICATION_NAME])
        return cursor.fetchone()[0]


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_200_concurrent_feed_reads_stay_within_the_pool_budget_and_idle_connections_are_released(
    user_factory, befriend
):
    """Two web processes × a pool of 3: 200 concurrent feed reads all answer 200, the server
    never holds more than 6 connections, and after the load the idle ones are closed down to
    the pool minimum (1 per process)."""
    from posts.services import post_create

    reader = user_factory(username="pool_reader")
    for n in range(3):
        friend = user_factory(username=f"pool_friend{n}")
        befriend(reader, friend)
        for m in range(5):
            post_create(author=friend, content=f"post {m} of friend {n} #pool")
    processes, pool_max = 2, 3
    stack = LiveStack(web_processes=processes, database_url=f"{current_database_url()}?application_name={APPLICATION_NAME}",
                      extra_env={
        "BELLAMY_DB_POOL_MIN": "1",
        "BELLAMY_DB_POOL_MAX": str(pool_max),
        "BELLAMY_DB_POOL_MAX_IDLE": "1",
        # A shared 2-core machine may queue 100 requests per process for a while: the wait for
        # a free connection is bounded by this timeout (a 500 after it), not by the budget.
        "BELLAMY_DB_POOL_TIMEOUT": "120",
    })
    stack.start_web()
    try:
        try:
            stack.wait_web()
        except RuntimeError as exc:
            service_unavailable("the web server (bin/web)", exc)
        samples: list[int] = []
        stop = threading.Event()

        def sample():
            # Its own Django connection in this thread (closed at the end).
            from django.db import connection as thread_connection

            while not stop.is_set():
                samples.append(_server_connections())
                time.sleep(0.02)
            thread_connection.close()

        sampler = threading.Thread(target=sample)
        sampler.start()
        token = str(AccessToken.for_user(reader))

        async def load() -> list[int]:
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(base_url=stack.base_url, timeout=180, limits=limits) as http:
                async def read(i: int) -> int:
                    response = await http.get(f"/api/feed/?limit={1 + i % 50}",
                                              headers={"Authorization": f"Bearer {token}"})
                    return response.status_code
                return await asyncio.gather(*(read(i) for i in range(200)))

        try:
            statuses = asyncio.run(load())
        finally:
            stop.set()
            sampler.join()
        assert statuses == [200] * 200
        assert 1 <= max(samples) <= processes * pool_max
        # Idle connections above the minimum close one per second per process.
        deadline = time.monotonic() + 30
        while _server_connections() > processes and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _server_connections() == processes
    finally:
        stack.stop()
