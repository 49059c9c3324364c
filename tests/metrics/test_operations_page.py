"""The admin operations page: active staff see the live figures; everyone else is sent to the
admin login (anonymous visitors and signed-in members alike)."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client

from bellamy import metrics
from bellamy.metrics.collectors import reset_collectors
from bellamy.realtime.presence import get_presence, reset_presence
from tests.conftest import SESSION_TAG

pytestmark = pytest.mark.django_db

URL = "/admin/operations/"


@pytest.fixture(autouse=True)
def _isolated(settings):
    settings.BELLAMY_KEY_PREFIX = f"ops{SESSION_TAG}"
    reset_presence()
    reset_collectors()
    yield
    get_presence().clear()
    reset_presence()
    reset_collectors()


def client_of(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_anonymous_and_members_are_sent_to_the_login(user_factory):
    for client in (client_of(), client_of(user_factory(username="member"))):
        response = client.get(URL)
        assert (response.status_code, response["Location"]) == (302, f"/admin/login/?next={URL}")
        assert b"Consumer lag" not in response.content
    inactive = user_factory(username="gone", is_staff=True, is_active=False)
    assert client_of(inactive).get(URL).status_code == 302


def test_staff_see_the_live_figures(user_factory):
    # given: two open sockets counted in this process, one online user in presence, a dead letter
    sockets = metrics.SOCKETS._value.get()
    dead = metrics.REGISTRY.get_sample_value("bellamy_dead_letters_total", {"source": "forwarder"}) or 0
    metrics.socket_opened()
    metrics.socket_opened()
    metrics.dead_lettered("forwarder")
    get_presence().touch(7, "tab", now=time.time())
    try:
        response = client_of(user_factory(username="ops", is_staff=True)).get(URL)
    finally:
        metrics.socket_closed()
        metrics.socket_closed()
    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<td class="bb-n" id="ops-sockets-open">' + str(int(sockets + 2)) + "</td>", html)
    assert re.search(r"<td>users online \(presence\)</td><td class=\"bb-n\">1</td>", html)
    assert re.search(r"set aside by the forwarder \(since the processes' counters began\)</td><td class=\"bb-n\">"
                     + str(int(dead + 1)) + "</td>", html)
    assert re.search(r"<td>unsent events</td><td class=\"bb-n\">0</td>", html)
    # this deployment has no Kafka and eager Celery: said, not invented
    assert "Not available (in-process bus, or Kafka did not answer)." in html
    assert "Not available (eager Celery, or the broker did not answer)." in html
    assert re.search(r"<td>presence</td><td>up</td>", html) and re.search(r"<td>outbox</td><td>up</td>", html)


def test_the_admin_index_links_the_page(user_factory):
    html = client_of(user_factory(username="ops2", is_staff=True)).get("/admin/").content.decode()
    assert f'<a href="{URL}">Live figures</a>' in html


def lag_rows(html: str) -> list[tuple[str, ...]]:
    """The consumer-lag table's rows as (topic, partition, end, committed, lag) strings."""
    section = html[html.index('<section id="ops-lag">'):html.index('<section id="ops-queues">')]
    return re.findall(r'<tr><td>([^<]+)</td><td class="bb-n">(\d+)</td><td class="bb-n">(\d+)</td>'
                      r'<td class="bb-n">([^<]+)</td><td class="bb-n">(\d+)</td></tr>', section)


def test_staff_see_consumer_lag_from_kafka_and_queue_depths_from_the_broker(user_factory, kafka, broker, settings):
    from celery import Celery

    from bellamy.events.backends.kafka import ensure_topics
    from bellamy.events.registry import DEAD_LETTER_TOPIC, topic_for
    from tests.metrics.helpers import KAFKA_SERVERS, produce_and_commit

    created, liked = topic_for("post.created", prefix=kafka), topic_for("post.liked", prefix=kafka)
    dead = topic_for(DEAD_LETTER_TOPIC, prefix=kafka)
    ensure_topics(KAFKA_SERVERS, [created, liked, dead], partitions=2)
    # given: the forwarder group is 2 behind on post.created/0, has never committed post.created/1
    # (1 record) nor post.liked (2 records on partition 0); 2 records were dead-lettered
    produce_and_commit([(created, 0, 3), (created, 1, 1), (liked, 0, 2), (dead, 0, 2)],
                       group=settings.BELLAMY_FORWARDER_GROUP, commits={(created, 0): 1})
    # and: 2 tasks wait in the scoring queue, 1 in notifications
    producer = Celery("probe", broker=settings.REDIS_URL)
    producer.conf.broker_transport_options = {"global_keyprefix": broker}
    for queue in ("scoring", "scoring", "notifications"):
        producer.send_task("probe.task", queue=queue)

    # when
    html = client_of(user_factory(username="ops3", is_staff=True)).get(URL).content.decode()

    # then: every partition of the existing topics, largest lag first, and the total
    assert lag_rows(html) == [(created, "0", "3", "1", "2"), (liked, "0", "2", "—", "2"),
                              (created, "1", "1", "—", "1"), (liked, "1", "0", "—", "0")]
    assert f"group <code>{settings.BELLAMY_FORWARDER_GROUP}</code>" in html
    assert re.search(r'<p class="bb-big bb-bad" id="ops-lag-total">5</p>', html)
    # and: the queues, the dead-letter topic, and both sources up
    assert re.search(r"<td>scoring</td><td class=\"bb-n\">2</td>", html)
    assert re.search(r"<td>notifications</td><td class=\"bb-n\">1</td>", html)
    assert re.search(r"<td>graph</td><td class=\"bb-n\">0</td>", html)
    assert re.search(r"<td>kept in the dead-letter topic</td><td class=\"bb-n\">2</td>", html)
    assert re.search(r"<td>kafka</td><td>up</td>", html) and re.search(r"<td>celery</td><td>up</td>", html)


def test_the_page_reloads_itself_when_asked(user_factory):
    client = client_of(user_factory(username="ops4", is_staff=True))
    plain = client.get(URL).content.decode()
    assert 'http-equiv="refresh"' not in plain
    assert re.findall(r'<a href="\?refresh=(\d+)">', plain) == ["10", "30", "60"]
    response = client.get(URL, {"refresh": "30"})
    html = response.content.decode()
    assert response.status_code == 200
    assert '<meta http-equiv="refresh" content="30">' in html
    assert '<span id="ops-refresh">Reloading every 30 s</span>' in html
    assert 'id="ops-sockets-open"' in html  # the figures are there too


@pytest.mark.parametrize("bad", ["0", "4", "301", "-10", "ten", "1.5", ""])
def test_a_bad_refresh_is_refused_with_the_reason(user_factory, bad):
    response = client_of(user_factory(username="ops5", is_staff=True)).get(URL, {"refresh": bad})
    html = response.content.decode()
    assert response.status_code == 400
    assert (f'<p class="errornote" id="ops-error">refresh must be a whole number of seconds from 5 to 300 '
            f"(got &#x27;{bad}&#x27;).</p>") in html
    assert 'http-equiv="refresh"' not in html and "Consumer lag" not in html


def test_members_cannot_use_refresh_to_reach_the_page(user_factory):
    response = client_of(user_factory(username="member2")).get(URL, {"refresh": "10"})
    assert (response.status_code, response["Location"]) == (302, "/admin/login/?next=/admin/operations/%3Frefresh%3D10")
