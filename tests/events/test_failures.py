"""Retries and dead letters of event tasks: which errors are transient (real errors of each
service), the retry budget, isolating a failing event, PostgreSQL down while dead-lettering,
and ``manage.py events_dead_letters``."""

import socket
import uuid
from datetime import timedelta

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from bellamy import metrics
from bellamy.events.envelope import Envelope
from bellamy.events.failures import Failure, RetryPolicy, classify
from bellamy.events.idempotency import execute
from bellamy.events.models import DeadLetter, OutboxEvent, ProcessedEvent
from bellamy.events.services import dead_letter_record, publish
from tests.conftest import SESSION_TAG
from tests.events import recorder

pytestmark = pytest.mark.django_db(transaction=True)

FAST = RetryPolicy(budget=0.4, max_delay=0.05, base_delay=0.01)


def closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raised(action) -> BaseException:
    try:
        action()
    except BaseException as exc:  # the error under test
        return exc
    raise AssertionError("no error raised")


def env(n: int, **data) -> Envelope:
    return Envelope(type="post.created", key=str(n), data={"n": n, **data})


def effects() -> list[str]:
    return list(OutboxEvent.objects.filter(type="relationship_weight.updated").order_by("id")
                .values_list("payload__data__source", flat=True))


def effect_handler(fail_on: set[int] = frozenset(), error=ValueError):
    """A handler writing one effect per envelope, raising ``error`` for the ``n`` in ``fail_on``."""
    def handle(envelopes):
        for envelope in envelopes:
            publish("relationship_weight.updated", key=0, data={"source": envelope.id})
            if envelope.data["n"] in fail_on:
                raise error(f"cannot handle {envelope.data['n']}")
        return len(envelopes)
    return handle


# --- classification, with the real errors of each service ------------------------------------
def test_postgresql_unreachable_and_too_many_clients_are_database_unavailable():
    from django.db.backends.postgresql.base import DatabaseWrapper

    # The server's own answers, on plain connections (no pool in between),
    settings_dict = {**connection.settings_dict, "PORT": closed_port(), "OPTIONS": {}}
    refused = raised(DatabaseWrapper(settings_dict, alias="refused").ensure_connection)
    assert "Connection refused" in str(refused)
    assert classify(refused) is Failure.DATABASE_UNAVAILABLE
    # and what a process with a connection pool sees instead: the pool's timeout.
    pooled = {**settings_dict, "OPTIONS": {"pool": {"min_size": 1, "max_size": 1, "timeout": 0.5}}}
    wrapper = DatabaseWrapper(pooled, alias="pooled")
    try:
        timed_out = raised(wrapper.ensure_connection)
    finally:
        wrapper.close_pool()
    assert type(timed_out.__cause__).__name__ == "PoolTimeout"
    assert classify(timed_out) is Failure.DATABASE_UNAVAILABLE
    # "too many clients" is SQLSTATE 53300; a role allowed no connection gets the same answer.
    role = f"bellamy_limited_{SESSION_TAG}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'limited' CONNECTION LIMIT 0")
    try:
        limited = {**connection.settings_dict, "USER": role, "PASSWORD": "limited", "OPTIONS": {}}
        too_many = raised(DatabaseWrapper(limited, alias="limited").ensure_connection)
        assert f'too many connections for role "{role}"' in str(too_many)
        assert classify(too_many) is Failure.DATABASE_UNAVAILABLE
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP ROLE {role}")


def test_statement_timeout_is_transient_and_constraint_violation_is_permanent():
    def slow():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 10")
            cursor.execute("SELECT pg_sleep(1)")

    assert classify(raised(slow)) is Failure.TRANSIENT
    event_id = str(uuid.uuid4())
    ProcessedEvent.objects.create(event_id=event_id, task_name="t")

    def duplicate():
        with transaction.atomic():
            ProcessedEvent.objects.create(event_id=event_id, task_name="t")

    error = raised(duplicate)
    assert isinstance(error, IntegrityError)
    assert classify(error) is Failure.PERMANENT


def test_unreachable_redis_mongodb_neo4j_and_kafka_are_transient():
    import redis
    from kafka import KafkaAdminClient
    from neo4j import GraphDatabase
    from pymongo import MongoClient

    port = closed_port()
    errors = {
        "redis": raised(lambda: redis.Redis(port=port, socket_connect_timeout=1).ping()),
        "mongodb": raised(lambda: MongoClient(f"mongodb://127.0.0.1:{port}", serverSelectionTimeoutMS=200)
                          .admin.command("ping")),
        "neo4j": raised(lambda: GraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=("neo4j", "x"))
                        .verify_connectivity()),
        "kafka": raised(lambda: KafkaAdminClient(bootstrap_servers=[f"127.0.0.1:{port}"], request_timeout_ms=500,
                                                 bootstrap_timeout_ms=500)),
        "socket": raised(lambda: socket.create_connection(("127.0.0.1", port), timeout=1)),
    }
    assert {name: classify(error) for name, error in errors.items()} == dict.fromkeys(errors, Failure.TRANSIENT)


def test_a_wrapped_connection_error_is_transient_and_a_bug_is_permanent():
    import redis

    cause = raised(lambda: redis.Redis(port=closed_port(), socket_connect_timeout=1).ping())

    def wrapped():
        raise RuntimeError("the feed store is unavailable") from cause

    assert classify(raised(wrapped)) is Failure.TRANSIENT
    assert classify(KeyError("post_id")) is Failure.PERMANENT
    assert classify(ValueError("bad data")) is Failure.PERMANENT


def test_the_back_off_doubles_up_to_its_ceiling_with_jitter():
    policy = RetryPolicy(budget=60, max_delay=4.0, base_delay=0.5)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (40, 4.0)]:
        delays = [policy.delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, min(delays), max(delays))


# --- execute(): retries, isolation, dead letters ----------------------------------------------
def test_a_permanent_failure_isolates_the_failing_event_and_dead_letters_only_it():
    batch = [env(n) for n in range(5)]
    assert execute("t.isolate", batch, effect_handler({3}), queue="graph", policy=FAST) is None
    # the four others were handled (once each), event 3 is one dead letter with its reason,
    assert sorted(effects()) == sorted(e.id for e in batch if e.data["n"] != 3)
    assert sorted(ProcessedEvent.objects.values_list("event_id", flat=True)) == sorted(
        uuid.UUID(e.id) for e in batch if e.data["n"] != 3)
    letter = DeadLetter.objects.get()
    assert (letter.task_name, letter.queue, letter.payload, letter.event_count, letter.attempts) == (
        "t.isolate", "graph", [batch[3].to_dict()], 1, 1)
    assert letter.reason == "ValueError: cannot handle 3"
    assert letter.traceback.startswith("Traceback (most recent call last)")
    # and a redelivery of the whole batch changes nothing but the dead letter's attempts.
    execute("t.isolate", batch, effect_handler({3}), queue="graph", policy=FAST)
    assert len(effects()) == 4
    assert list(DeadLetter.objects.values_list("attempts", flat=True)) == [2]


def test_transient_errors_are_retried_in_place_until_the_service_answers():
    import redis

    failures = {"left": 2}
    pauses: list[float] = []

    def flaky(envelopes):
        if failures["left"]:
            failures["left"] -= 1
            redis.Redis(port=closed_port(), socket_connect_timeout=1).ping()  # a real ConnectionError
        return effect_handler()(envelopes)

    batch = [env(1), env(2)]
    assert execute("t.flaky", batch, flaky, policy=RetryPolicy(budget=60, max_delay=1, base_delay=0.2),
                   sleep=pauses.append) == 2
    assert sorted(effects()) == sorted(e.id for e in batch)
    assert len(pauses) == 2 and 0.1 <= pauses[0] <= 0.2 and 0.2 <= pauses[1] <= 0.4
    assert DeadLetter.objects.count() == 0


def test_a_transient_error_past_the_budget_dead_letters_the_batch():
    import redis

    port = closed_port()

    def down(envelopes):
        redis.Redis(port=port, socket_connect_timeout=1).ping()

    def counted(name, **labels):
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    retries = counted("bellamy_celery_task_retries_total", queue="notifications", task="t.down")
    dead = counted("bellamy_dead_letters_total", source="task")
    batch = [env(1), env(2)]
    execute("t.down", batch, down, queue="notifications", policy=FAST)
    letter = DeadLetter.objects.get()
    # (each retry in place and the dead letter are counted in /metrics)
    assert counted("bellamy_celery_task_retries_total", queue="notifications", task="t.down") - retries == (
        letter.attempts - 1)
    assert counted("bellamy_dead_letters_total", source="task") - dead == 1
    # the whole batch (a transient error is not the events' fault: no splitting), after retries
    assert (letter.payload, letter.event_count, letter.queue) == ([e.to_dict() for e in batch], 2, "notifications")
    assert letter.reason.startswith("ConnectionError: Error ")
    assert letter.attempts >= 2
    assert (letter.last_failed_at - letter.first_failed_at) >= timedelta(seconds=FAST.budget)
    assert ProcessedEvent.objects.count() == 0


def test_postgresql_down_while_dead_lettering_keeps_the_batch_until_it_is_stored(caplog):
    # Given a handler that fails for good, and PostgreSQL going down just as its dead letter is
    # written: that connection is terminated by the server and new ones are refused (the
    # connection settings point at a port nobody listens on until "the server is back"),
    real_port = connection.settings_dict["PORT"]
    pauses: list[float] = []
    # Plain connections here: a pool keeps connecting to the address it was created with.
    pool_options = connection.settings_dict["OPTIONS"].pop("pool", None)
    connection.close()
    connection.close_pool()

    def server_goes_down(execute_sql, sql, params, many, context):
        if "events_deadletter" in sql and not pauses:
            db = connection.settings_dict
            with psycopg.connect(host=db["HOST"], port=real_port, dbname=db["NAME"], user=db["USER"],
                                 password=db["PASSWORD"], autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
            connection.settings_dict["PORT"] = closed_port()
        return execute_sql(sql, params, many, context)

    def pause(seconds):
        pauses.append(seconds)
        if len(pauses) == 5:  # the server is back after five pauses
            connection.settings_dict["PORT"] = real_port

    batch = [env(1)]
    try:
        with connection.execute_wrapper(server_goes_down):
            execute("t.pg_down", batch, lambda envelopes: (_ for _ in ()).throw(ValueError("cannot handle it")),
                    policy=FAST, sleep=pause)
    finally:
        connection.settings_dict["PORT"] = real_port
        connection.close()
        if pool_options is not None:
            connection.settings_dict["OPTIONS"]["pool"] = pool_options
    # then the batch was not dropped when its dead letter could not be stored: it was kept and
    # retried while PostgreSQL was unreachable (longer than the budget of transient errors), and
    # dead-lettered once the server answered again.
    assert len(pauses) >= 5
    assert [r.message for r in caplog.records if "could not store the dead letter" in r.message] == [
        "t.pg_down: could not store the dead letter of 1 event(s); the batch is kept"]
    letter = DeadLetter.objects.get()
    assert (letter.payload, letter.reason) == ([batch[0].to_dict()], "ValueError: cannot handle it")


def test_dead_letter_record_updates_the_pending_letter_of_the_same_batch():
    batch = [env(1).to_dict(), env(2).to_dict()]
    first = dead_letter_record(task_name="t", queue="q", payload=batch, error=ValueError("one"), attempts=2,
                               first_failed_at=timezone.now())
    again = dead_letter_record(task_name="t", queue="q", payload=list(reversed(batch)), error=ValueError("two"),
                               attempts=3, first_failed_at=timezone.now())
    assert again.pk == first.pk
    assert list(DeadLetter.objects.values_list("attempts", "reason")) == [(5, "ValueError: two")]
    # once replayed, a new failure of the same batch is a new dead letter
    DeadLetter.objects.update(replayed_at=timezone.now())
    third = dead_letter_record(task_name="t", queue="q", payload=batch, error=ValueError("three"), attempts=1,
                               first_failed_at=timezone.now())
    assert third.pk != first.pk and DeadLetter.objects.count() == 2


# --- manage.py events_dead_letters ------------------------------------------------------------
def letter_for(task: str, envelopes: list[Envelope], reason: str = "boom") -> DeadLetter:
    return dead_letter_record(task_name=task, queue="default", payload=[e.to_dict() for e in envelopes],
                              error=ValueError(reason), attempts=1, first_failed_at=timezone.now())


def test_list_shows_pending_dead_letters_and_a_summary(capsys):
    pending = letter_for(recorder.BATCH_TASK_NAME, [env(1), env(2)], "first reason")
    replayed = letter_for("tests.other_task", [env(3)])
    DeadLetter.objects.filter(pk=replayed.pk).update(replayed_at=timezone.now())
    call_command("events_dead_letters", "--list")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:5] == [str(pending.pk), recorder.BATCH_TASK_NAME, "queue=default", "events=2",
                                    "attempts=1"]
    assert lines[0].endswith("pending  ValueError: first reason")
    assert lines[1] == "1 dead letters listed (1 pending, 2 events)"
    call_command("events_dead_letters", "--all")
    assert capsys.readouterr().out.strip().splitlines()[-1] == "2 dead letters listed (1 pending, 3 events)"


def test_replay_runs_the_batch_again_and_marks_it_replayed(batches, capsys):
    # Given a dead letter of the batch recorder (eager Celery: the replay runs inline),
    batch = [env(1), env(2)]
    letter = letter_for(recorder.BATCH_TASK_NAME, batch)
    # a dry run changes nothing,
    call_command("events_dead_letters", "--replay", "--dry-run")
    assert capsys.readouterr().out.strip() == "would replay 1 dead letters (2 events)"
    assert (batches, DeadLetter.objects.get().replayed_at) == ([], None)
    # and the replay hands the batch to its task and marks the letter.
    call_command("events_dead_letters", "--replay", str(letter.pk), "--no-progress")
    assert capsys.readouterr().out.startswith("replayed 1 dead letters (2 events), 0 failed, in ")
    assert batches == [[e.id for e in batch]]
    assert DeadLetter.objects.get().replayed_at is not None
    # Replaying it again is refused; a pending-only replay finds nothing left.
    with pytest.raises(CommandError, match=f"already replayed: {letter.pk}"):
        call_command("events_dead_letters", "--replay", str(letter.pk))
    call_command("events_dead_letters", "--replay", "--no-progress")
    assert capsys.readouterr().out.startswith("replayed 0 dead letters (0 events), 0 failed")


def test_a_replay_that_fails_again_leaves_the_letter_pending_and_exits_non_zero(batches, capsys):
    letter = letter_for(recorder.BATCH_TASK_NAME, [env(1, fail=True)])
    with pytest.raises(CommandError, match="1 replay\\(s\\) failed; those dead letters stay pending"):
        call_command("events_dead_letters", "--replay", "--no-progress")
    assert f"replay failed for dead letter {letter.pk}: ValueError: cannot handle" in capsys.readouterr().err
    assert DeadLetter.objects.get().replayed_at is None


def test_purge_deletes_replayed_letters_unless_told_otherwise(capsys):
    kept = letter_for("t.a", [env(1)])
    gone = letter_for("t.b", [env(2)])
    DeadLetter.objects.filter(pk=gone.pk).update(replayed_at=timezone.now())
    call_command("events_dead_letters", "--purge", "--dry-run")
    assert capsys.readouterr().out.strip() == "would purge 1 dead letters (0 pending)"
    assert DeadLetter.objects.count() == 2
    call_command("events_dead_letters", "--purge", "--no-progress")
    assert capsys.readouterr().out.startswith("purged 1 dead letters (0 were pending) in ")
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [kept.pk]
    call_command("events_dead_letters", "--purge", "--pending", "--task", "t.a", "--no-progress")
    assert capsys.readouterr().out.startswith("purged 1 dead letters (1 were pending) in ")
    assert DeadLetter.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--replay", "999999"], "no such dead letter: 999999"),
        (["--purge", "999998", "999999"], "no such dead letter: 999998, 999999"),
        (["--pending"], "--pending goes with --purge"),
        (["--replay", "x"], "invalid int value: 'x'"),
    ],
)
def test_bad_arguments_are_refused_and_change_nothing(args, message):
    letter_for("t.a", [env(1)])
    with pytest.raises(CommandError, match=message):
        call_command("events_dead_letters", *args)
    assert list(DeadLetter.objects.values_list("replayed_at", flat=True)) == [None]


def test_dead_letters_are_read_only_in_the_admin(admin_client):
    letter = letter_for("t.a", [env(1)], "visible reason")
    listing = admin_client.get("/admin/events/deadletter/")
    assert listing.status_code == 200
    assert "visible reason" in listing.content.decode()
    detail = admin_client.get(f"/admin/events/deadletter/{letter.pk}/change/")
    assert detail.status_code == 200
    assert admin_client.get("/admin/events/deadletter/add/").status_code == 403
    assert admin_client.post(f"/admin/events/deadletter/{letter.pk}/delete/", {"post": "yes"}).status_code == 403
    assert DeadLetter.objects.filter(pk=letter.pk).exists()
