"""The batch interface: ``batch_task``/``event_task`` idempotency of a whole batch, and
``dispatch_batch`` (one task per route per batch).

The contract tests run on PostgreSQL (this session) and, through
``test_the_batch_contract_holds_on_sqlite``, on SQLite (the embedded default).
"""

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bellamy.events.dispatch import dispatch, dispatch_batch
from bellamy.events.envelope import Envelope
from bellamy.events.errors import EnvelopeDecodeError
from bellamy.events.idempotency import claim, event_task, run_batch
from bellamy.events.models import OutboxEvent, ProcessedEvent
from bellamy.events.services import publish
from tests.events import recorder

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def env(n: int, *, key: str = "k", type: str = "post.created", **data) -> Envelope:
    """An envelope whose data is ``{"n": n, **data}``."""
    return Envelope(type=type, key=key, data={"n": n, **data})


def effects() -> list[str]:
    """The event ids the batch recorder wrote an outbox row for, in write order."""
    return list(OutboxEvent.objects.filter(type="relationship_weight.updated").order_by("id")
                .values_list("payload__data__source", flat=True))


#: Event ids :func:`failing_event_task` was called with.
FAILING_CALLS: list[str] = []


@event_task("tests.failing_event_task")
def failing_event_task(envelope):
    """Writes an effect, then fails for an envelope with ``n == 1``."""
    FAILING_CALLS.append(envelope.id)
    publish("relationship_weight.updated", key=0, data={"source": envelope.id})
    if envelope.data["n"] == 1:
        raise RuntimeError("boom")


@pytest.fixture(autouse=True)
def _clear_failing_calls():
    FAILING_CALLS.clear()


def claim_inserts(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "events_processedevent"')]


# --- the contract (PostgreSQL and SQLite) ------------------------------------------------------
def test_batch_handler_gets_the_new_envelopes_in_delivery_order_after_one_claim_statement(batches):
    # Given a batch of five envelopes in a deliberately unsorted order of ids,
    batch = [env(n) for n in range(5)]
    # when the batch task runs it,
    with CaptureQueriesContext(connection) as queries:
        result = recorder.record_batch_task([e.to_dict() for e in batch])
    # then the handler was called once with all five in delivery order, after one claim statement,
    assert result == 5
    assert batches == [[e.id for e in batch]]
    assert len(claim_inserts(queries.captured_queries)) == 1
    assert "ON CONFLICT" in claim_inserts(queries.captured_queries)[0]
    # and each pair (event, task) is recorded once, with the handler's effects.
    assert sorted(ProcessedEvent.objects.values_list("task_name", flat=True)) == [recorder.BATCH_TASK_NAME] * 5
    assert effects() == [e.id for e in batch]


def test_a_batch_whose_events_were_partly_handled_runs_only_the_rest(batches):
    # Given events 1 and 3 of a batch of five were handled before (an earlier, smaller batch),
    batch = [env(n) for n in range(5)]
    recorder.record_batch_task([batch[1].to_dict(), batch[3].to_dict()])
    # when the whole batch is delivered,
    result = recorder.record_batch_task([e.to_dict() for e in batch])
    # then the handler gets only 0, 2 and 4, in delivery order, and every event has one effect.
    assert result == 3
    assert batches == [[batch[1].id, batch[3].id], [batch[0].id, batch[2].id, batch[4].id]]
    assert sorted(effects()) == sorted(e.id for e in batch)
    assert ProcessedEvent.objects.filter(task_name=recorder.BATCH_TASK_NAME).count() == 5


def test_a_batch_handled_before_does_not_call_the_handler(batches):
    batch = [e.to_dict() for e in (env(1), env(2))]
    assert recorder.record_batch_task(batch) == 2
    # The same batch again (a redelivery): nothing new, the handler is not called.
    assert recorder.record_batch_task(batch) is None
    assert len(batches) == 1
    assert len(effects()) == 2


def test_an_event_repeated_within_one_batch_is_handled_once(batches):
    first, second = env(1), env(2)
    # A relay retry after a lost acknowledgement puts one event twice in one poll.
    payload = [first.to_dict(), second.to_dict(), first.to_dict()]
    assert recorder.record_batch_task(payload) == 2
    assert batches == [[first.id, second.id]]


def test_a_failing_handler_records_nothing_and_the_retry_handles_the_whole_batch(batches):
    # Given a batch whose third envelope makes the handler fail after writing,
    good, bad = [env(0), env(1)], env(2, fail=True)
    payload = [e.to_dict() for e in (*good, bad)]
    with pytest.raises(ValueError, match=f"cannot handle {bad.id}"):
        recorder.record_batch_task(payload)
    # then neither the claim nor any effect was kept,
    assert (ProcessedEvent.objects.count(), effects()) == (0, [])
    # and once the cause is gone, a retry of the same events handles all three.
    payload[2]["data"] = {"n": 2}
    assert recorder.record_batch_task(payload) == 3
    assert effects() == [e.id for e in (*good, bad)]


def test_event_task_over_a_list_runs_each_new_envelope_in_one_transaction(handled):
    # Given one event handled before,
    batch = [env(n, type="post.liked") for n in range(3)]
    assert recorder.record_event_task(batch[1].to_dict()) is None  # the handler returns None
    handled.clear()
    # when the batch is delivered, the per-event handler runs for the two others, in order,
    results = recorder.record_event_task([e.to_dict() for e in batch])
    assert results == [None, None, None]
    assert [h[0] for h in handled] == [batch[0].id, batch[2].id]
    assert ProcessedEvent.objects.filter(task_name=recorder.TASK_NAME).count() == 3


def test_event_task_rolls_back_the_whole_batch_when_one_event_fails():
    # Given a per-event handler that fails on the second envelope of a batch,
    batch = [env(n) for n in range(3)]
    with pytest.raises(RuntimeError, match="boom"):
        failing_event_task([e.to_dict() for e in batch])
    # then the first envelope's effect and every claim were rolled back with it.
    assert FAILING_CALLS == [batch[0].id, batch[1].id]
    assert (ProcessedEvent.objects.count(), effects()) == (0, [])


def test_payload_that_is_not_a_list_of_envelopes_is_refused(batches):
    with pytest.raises(EnvelopeDecodeError, match="a task takes a list of envelopes, got str"):
        recorder.record_batch_task("post.created")
    with pytest.raises(EnvelopeDecodeError, match="envelope field 'id' missing or not str"):
        recorder.record_batch_task([{"type": "post.created"}])
    assert (batches, ProcessedEvent.objects.count()) == ([], 0)


def test_claim_returns_only_the_ids_it_recorded():
    ids = [env(n).id for n in range(4)]
    assert claim(ids[:2], "t") == set(ids[:2])
    assert claim(ids, "t") == set(ids[2:])
    assert claim(ids, "t") == set()
    assert claim(ids, "other task") == set(ids)
    assert claim([], "t") == set()


def test_run_batch_returns_the_new_envelopes_and_the_result():
    batch = [env(n) for n in range(3)]
    run_batch("t", batch[:1], lambda new: None)
    new, result = run_batch("t", batch, lambda new: [e.data["n"] for e in new])
    assert (new, result) == (batch[1:], [1, 2])
    assert run_batch("t", batch, lambda new: pytest.fail("nothing is new")) == ([], None)


def test_dispatch_batch_enqueues_one_task_per_route_with_its_envelopes_in_order(batches):
    # Given a batch mixing two types whose routes overlap (eager Celery runs the tasks inline),
    created = [env(n, key=str(n % 2)) for n in range(4)]
    liked = [env(10 + n, type="post.liked") for n in range(2)]
    batch = [created[0], liked[0], created[1], created[2], liked[1], created[3]]
    # when it is dispatched,
    assert dispatch_batch(batch) == 2
    # then the batch recorder ran once with all six in the given order, the per-event recorder
    # (post.created only) once per post.created envelope, in order,
    assert batches == [[e.id for e in batch]]
    assert [h[0] for h in recorder.HANDLED] == [e.id for e in created]
    # and a type without routes enqueues nothing; a single event is a batch of one.
    assert dispatch_batch([env(0, type="user.blocked")]) == 0
    single = env(99, type="post.liked")
    assert dispatch(single) == 1
    assert batches[-1] == [single.id]


def test_events_of_one_transaction_reach_each_route_as_one_batch(batches):
    # Given the in-process bus (the embedded default), when one transaction publishes four events,
    with transaction.atomic():
        ids = [publish("post.created", key=n % 2, data={"n": n}).id for n in range(3)]
        ids.append(publish("post.liked", key=0, data={"n": 3}).id)
    # then the batch task ran once with all four, in publication order.
    assert batches == [ids]
    assert [h[0] for h in recorder.HANDLED] == ids[:3]
    assert OutboxEvent.objects.filter(sent_at__isnull=True).exclude(type="relationship_weight.updated").count() == 0


def test_a_failing_batch_in_process_holds_back_only_the_failing_key(batches):
    # Given one transaction publishing three keys, the second key's event failing in the handler,
    with transaction.atomic():
        ok_a = publish("post.liked", key="a", data={"n": 0})
        bad = publish("post.liked", key="b", data={"n": 1, "fail": True})
        ok_c = publish("post.liked", key="c", data={"n": 2})
    # then the bus falls back to one event at a time: a and c are handled and sent, b stays unsent.
    assert [b for b in batches if len(b) == 1] == [[ok_a.id], [bad.id], [ok_c.id]]
    assert sorted(effects()) == sorted([ok_a.id, ok_c.id])
    unsent = OutboxEvent.objects.filter(sent_at__isnull=True).values_list("event_id", "last_error")
    assert [(str(i), e) for i, e in unsent] == [(bad.id, f"ValueError: cannot handle {bad.id}")]


# --- PostgreSQL only ---------------------------------------------------------------------------
def test_concurrent_duplicate_batches_serialise_on_the_unique_index(batches):
    assert connection.vendor == "postgresql"
    # Given a first batch whose handler holds its transaction open,
    shared, first_only, second_only = env(0), env(1), env(2)
    inside, release = threading.Event(), threading.Event()
    seen: dict[str, list[str]] = {}

    def slow(new):
        seen["first"] = [e.id for e in new]
        inside.set()
        assert release.wait(10)

    def first():
        from django.db import connection as thread_connection

        try:
            run_batch("t", [first_only, shared], slow)
        finally:
            thread_connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    # when a second batch overlapping it starts, it waits on the shared event's index entry,
    second_done = threading.Event()

    def second():
        from django.db import connection as thread_connection

        try:
            seen["second"] = [e.id for e in run_batch("t", [shared, second_only], lambda new: None)[0]]
        finally:
            second_done.set()
            thread_connection.close()

    other = threading.Thread(target=second)
    other.start()
    assert not second_done.wait(1.0)
    # and once the first commits, it handles only what the first did not.
    release.set()
    thread.join(10)
    other.join(10)
    assert seen == {"first": [first_only.id, shared.id], "second": [second_only.id]}
    assert ProcessedEvent.objects.filter(task_name="t").count() == 3


def test_the_batch_contract_holds_on_sqlite():
    # The same contract tests, run by pytest against SQLite (DATABASE_URL unset: the embedded
    # default; pytest-django uses an in-memory test database).
    contract = [name for name in globals() if name.startswith("test_") and name not in (
        "test_concurrent_duplicate_batches_serialise_on_the_unique_index", "test_the_batch_contract_holds_on_sqlite")]
    environment = {**os.environ, "DATABASE_URL": "", "DATABASE_REPLICA_URL": "", "CELERY_BROKER_URL": "",
                   "BELLAMY_EVENTS_URL": "", "REDIS_URL": ""}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", str(Path(__file__)),
         "-k", " or ".join(contract)],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=240,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(rf"\b{len(contract)} passed\b", summary), summary
    assert "sqlite" in subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='bellamy.settings'; "
         "django.setup(); from django.db import connection; print(connection.vendor)"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60,
    ).stdout
