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
