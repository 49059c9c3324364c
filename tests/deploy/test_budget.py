"""The PostgreSQL connection budget of the stack: each program's pool size, their sum, and the
check against the server's limit that bin/stack runs before starting."""

from __future__ import annotations

import pytest

from deploy.stack import ADMIN_CONNECTIONS, StackConfig, budget_table, check_budget, connection_budget, server_connection_limit


def programs(tmp_path, **env):
    return StackConfig.from_env(env, run_dir=tmp_path, log_dir=tmp_path).programs()


def test_default_web_processes_are_one_per_core(tmp_path):
    import os

    web = next(p for p in programs(tmp_path) if p.name == "web")
    assert (web.processes, web.db_pool_max, web.connections) == (os.cpu_count(), 8, 8 * os.cpu_count())


def test_stack_with_one_web_process_holds_33_connections(tmp_path):
    stack = programs(tmp_path, BELLAMY_WEB_PROCESSES="1")
    # The graph worker is serial (one thread + the relay thread), whatever the concurrency.
    assert {p.name: (p.processes, p.db_pool_max) for p in stack} == {
        "web": (1, 8), "worker-scoring": (1, 5), "worker-graph": (1, 2), "worker-notifications": (1, 5),
        "worker-trends": (1, 5), "worker-default": (1, 5), "beat": (1, 1), "forwarder": (1, 2),
    }
    assert connection_budget(stack) == 33
    assert budget_table(stack).splitlines()[-1].split() == ["total", "8", "33"]


def test_graph_worker_runs_one_task_at_a_time(tmp_path):
    for env in ({}, {"BELLAMY_WORKER_CONCURRENCY": "8"}, {"BELLAMY_WORKER_POOL": "prefork"}):
        commands = {p.name: p.command for p in programs(tmp_path, **env)}
        graph = commands["worker-graph"]
        assert graph[graph.index("--concurrency") + 1] == "1"
        scoring = commands["worker-scoring"]
        assert scoring[scoring.index("--concurrency") + 1] == env.get("BELLAMY_WORKER_CONCURRENCY", "4")


def test_sizes_come_from_the_environment(tmp_path):
    stack = programs(tmp_path, BELLAMY_WEB_PROCESSES="1", BELLAMY_WEB_DB_POOL_MAX="12", BELLAMY_WORKER_CONCURRENCY="8")
    assert connection_budget(stack) == 12 + 4 * 9 + 2 + 1 + 2
    # prefork: every child holds its own connections (a task and the relay thread), the parent none.
    prefork = programs(tmp_path, BELLAMY_WEB_PROCESSES="1", BELLAMY_WORKER_POOL="prefork", BELLAMY_WORKER_CONCURRENCY="3")
    worker = next(p for p in prefork if p.name == "worker-scoring")
    assert (worker.processes, worker.db_pool_max, worker.connections) == (3, 2, 6)
    graph = next(p for p in prefork if p.name == "worker-graph")
    assert (graph.processes, graph.db_pool_max, graph.connections) == (1, 2, 2)
    assert connection_budget(prefork) == 8 + 4 * 6 + 2 + 1 + 2


def test_each_web_process_holds_its_own_pool(tmp_path):
    web = next(p for p in programs(tmp_path, BELLAMY_WEB_PROCESSES="3") if p.name == "web")
    assert (web.processes, web.db_pool_max, web.connections) == (3, 8, 24)
    assert dict(web.env)["BELLAMY_WEB_PROCESSES"] == "3"
    with pytest.raises(ValueError, match="BELLAMY_WEB_PROCESSES=0 is below 1"):
        programs(tmp_path, BELLAMY_WEB_PROCESSES="0")


def test_budget_must_leave_reserved_and_admin_connections_free(tmp_path):
    stack = programs(tmp_path, BELLAMY_WEB_PROCESSES="1")
    assert ADMIN_CONNECTIONS == 5
    assert check_budget(stack, 200, 3) is None
    assert check_budget(stack, 41, 3) is None  # 33 = 41 - 3 - 5
    assert check_budget(stack, 40, 3) == (
        "the stack may hold 33 PostgreSQL connections but the server allows 32 (max_connections 40 - 3 reserved "
        "- 5 for admin); lower BELLAMY_WEB_DB_POOL_MAX / BELLAMY_WORKER_CONCURRENCY or raise max_connections")


@pytest.mark.services
def test_server_limit_is_read_from_postgresql(db):
    from tests.live_stack import current_database_url

    # services/postgres/postgresql.conf.in (and docker-compose.yml) set max_connections = 200.
    assert server_connection_limit(current_database_url()) == (200, 3)
