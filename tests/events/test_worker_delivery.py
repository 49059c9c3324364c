"""Real worker processes on the real Redis broker: a worker killed mid-task means redelivery and
an effect exactly once; what fails for good is dead-lettered and replayable.

Each test starts ``celery worker`` subprocesses (prefork, one pool process) on this test's
database and a private broker key prefix, with a visibility timeout of 5 s.
"""

import os
import signal

import pytest
import redis
from django.core.management import call_command

from bellamy.events.envelope import Envelope
from bellamy.events.models import DeadLetter, OutboxEvent, ProcessedEvent
from tests.conftest import REDIS_TEST_URL
from tests.events import worker_tasks
from tests.events.conftest import wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def effects(task: str) -> list[str]:
    """Event ids ``task`` wrote its effect row for (committed), in write order."""
    return list(OutboxEvent.objects.filter(type="relationship_weight.updated", payload__data__task=task)
                .order_by("id").values_list("payload__data__source", flat=True))


def envelope(n: int, **data) -> Envelope:
    return Envelope(type="post.created", key=str(n), data={"n": n, **data})


@pytest.mark.parametrize("victim", ["the whole worker", "its pool process"])
def test_a_worker_killed_mid_task_gets_the_batch_redelivered_and_its_effect_happens_once(
    victim, celery_broker, start_worker
):
    client = redis.Redis.from_url(REDIS_TEST_URL)
    inside = worker_tasks.key("inside", celery_broker.key_prefix)
    gate = worker_tasks.key("gate", celery_broker.key_prefix)
    first = start_worker()
    # Given a batch of two events whose task is running (effects written, transaction open),
    batch = [envelope(1), envelope(2)]
    worker_tasks.gated_effect_task.apply_async(args=[[e.to_dict() for e in batch]], queue="default")
    assert wait_until(lambda: client.llen(inside) == 1, timeout=60), first.tail()
    # when the worker (or only the process running the task) is SIGKILLed,
    if victim == "the whole worker":
        first.kill()
        second = start_worker()  # the process manager starts it again
    else:
        os.kill(int(client.lindex(inside, 0)), signal.SIGKILL)
        second = first  # the worker replaces its pool process and requeues the task
    # then the task is delivered again and runs to the end once the gate opens,
    assert wait_until(lambda: client.llen(inside) == 2, timeout=90), second.tail()
    client.set(gate, 1)
    assert wait_until(lambda: len(effects(worker_tasks.GATED_TASK)) >= 2, timeout=60), second.tail()
    # and the effect of each event exists exactly once: the killed run's writes rolled back.
    assert wait_until(lambda: celery_broker.client.hlen(f"{celery_broker.prefix}unacked") == 0, timeout=30)
    assert sorted(effects(worker_tasks.GATED_TASK)) == sorted(e.id for e in batch)
    assert ProcessedEvent.objects.filter(task_name=worker_tasks.GATED_TASK).count() == 2
    assert celery_broker.messages("default") == []
    assert DeadLetter.objects.count() == 0


def test_a_failing_event_is_dead_lettered_alone_and_replaying_it_runs_it(celery_broker, start_worker):
    client = redis.Redis.from_url(REDIS_TEST_URL)
    start_worker()
    # Given a batch of three events whose second fails for good in the handler,
    good, bad, other = envelope(1), envelope(2, fail=True), envelope(3)
    payload = [e.to_dict() for e in (good, bad, other)]
    worker_tasks.fails_unless_allowed_task.apply_async(args=[payload], queue="default")
    # when a worker runs it, the batch is split until the failing event is isolated:
    assert wait_until(lambda: DeadLetter.objects.exists() and len(effects(worker_tasks.FLAKY_TASK)) == 2,
                      timeout=60)
    # the other two are handled, and the failing one is one dead letter with its reason,
    assert sorted(effects(worker_tasks.FLAKY_TASK)) == sorted([good.id, other.id])
    letter = DeadLetter.objects.get()
    assert (letter.task_name, letter.queue, letter.payload, letter.event_count, letter.attempts) == (
        worker_tasks.FLAKY_TASK, "default", [bad.to_dict()], 1, 1)
    assert letter.reason == f"ValueError: cannot handle event {bad.id}"
    assert "fails_unless_allowed_task" in letter.traceback
    assert letter.replayed_at is None and letter.first_failed_at <= letter.last_failed_at
    # and once the cause is fixed, replaying the dead letter runs it on the worker.
    client.set(worker_tasks.key("allow", celery_broker.key_prefix), 1)
    call_command("events_dead_letters", "--replay", "--no-progress")
    assert wait_until(lambda: len(effects(worker_tasks.FLAKY_TASK)) == 3, timeout=60)
    letter.refresh_from_db()
    assert letter.replayed_at is not None
    assert sorted(effects(worker_tasks.FLAKY_TASK)) == sorted([good.id, bad.id, other.id])
    assert ProcessedEvent.objects.filter(task_name=worker_tasks.FLAKY_TASK).count() == 3


def test_a_payload_that_is_not_a_batch_of_envelopes_is_dead_lettered(celery_broker, start_worker):
    start_worker()
    worker_tasks.fails_unless_allowed_task.apply_async(args=[["not an envelope"]], queue="default")
    assert wait_until(DeadLetter.objects.exists, timeout=60)
    letter = DeadLetter.objects.get()
    assert (letter.task_name, letter.payload, letter.event_count) == (worker_tasks.FLAKY_TASK, ["not an envelope"], 1)
    assert letter.reason == "EnvelopeDecodeError: envelope must be a JSON object, got str"
    assert ProcessedEvent.objects.count() == 0


def test_a_task_running_longer_than_the_visibility_timeout_is_not_handed_out_twice(celery_broker, start_worker):
    client = redis.Redis.from_url(REDIS_TEST_URL)
    inside = worker_tasks.key("inside", celery_broker.key_prefix)
    # Given two workers (visibility timeout 5 s) and a task that runs for three timeouts,
    first, second = start_worker(), start_worker()
    batch = [envelope(1)]
    worker_tasks.gated_effect_task.apply_async(args=[[e.to_dict() for e in batch]], queue="default")
    assert wait_until(lambda: client.llen(inside) == 1, timeout=60), first.tail() + second.tail()
    # when the workers' periodic restore runs meanwhile (every second here),
    wait_until(lambda: client.llen(inside) > 1, timeout=15)
    # then the running task's delivery was kept visible: nobody got it a second time,
    assert client.llen(inside) == 1
    assert celery_broker.messages("default") == []
    assert celery_broker.client.hlen(f"{celery_broker.prefix}unacked") == 1
    # and it completes once.
    client.set(worker_tasks.key("gate", celery_broker.key_prefix), 1)
    assert wait_until(lambda: effects(worker_tasks.GATED_TASK) == [batch[0].id], timeout=60)
    assert wait_until(lambda: celery_broker.client.hlen(f"{celery_broker.prefix}unacked") == 0, timeout=30)
    assert client.llen(inside) == 1


def test_events_a_prefork_worker_publishes_leave_through_its_background_relay_task_after_task(
    kafka_bus, celery_broker, start_worker
):
    # Given a prefork worker on the Kafka bus with the background outbox relay (production's
    # relay), whose tasks publish one event per envelope they handle,
    from tests.conftest import KAFKA_URL

    worker = start_worker(BELLAMY_EVENTS_URL=KAFKA_URL, BELLAMY_TOPIC_PREFIX=kafka_bus,
                          BELLAMY_OUTBOX_RELAY="background")
    redis.Redis.from_url(REDIS_TEST_URL).set(worker_tasks.key("allow", celery_broker.key_prefix), 1)
    # when it runs ten tasks one after the other (each task's end used to close the process's
    # connection pool under the relay thread: celery#10554),
    batches = [[envelope(10 * n + k) for k in range(3)] for n in range(10)]
    for batch in batches:
        worker_tasks.fails_unless_allowed_task.apply_async(args=[[e.to_dict() for e in batch]], queue="default")
    assert wait_until(lambda: len(effects(worker_tasks.FLAKY_TASK)) == 30, timeout=90), worker.tail()
    # then every event they published is sent to Kafka by the worker itself, no sweep needed,
    assert wait_until(lambda: not OutboxEvent.objects.filter(sent_at__isnull=True).exists(), timeout=30), (
        OutboxEvent.objects.filter(sent_at__isnull=True).count(), worker.tail())
    assert sorted(effects(worker_tasks.FLAKY_TASK)) == sorted(e.id for batch in batches for e in batch)
    # and no relay pass failed on the way.
    assert "outbox relay" not in worker.log.read_text(errors="replace"), worker.tail()
