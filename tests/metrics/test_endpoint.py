"""``/metrics``: who may read it, what it lists, and the request figures by URL pattern."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import resolve
from prometheus_client import CONTENT_TYPE_LATEST

from bellamy import metrics
from bellamy.metrics.collectors import reset_collectors
from bellamy.metrics.views import parse_allow_list
from tests.metrics.helpers import parse, value

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-0123456789abcdef"
FAMILIES = [
    "bellamy_http_requests", "bellamy_http_request_duration_seconds", "bellamy_events_published",
    "bellamy_events_publish_failures", "bellamy_events_consumed", "bellamy_dead_letters", "bellamy_celery_tasks",
    "bellamy_celery_task_retries", "bellamy_celery_task_duration_seconds", "bellamy_celery_task_wait_seconds",
    "bellamy_websocket_connections", "bellamy_websocket_connects", "bellamy_pushes_sent", "bellamy_pushes_offline",
    "bellamy_pushes_dropped",
    "bellamy_cache_requests", "bellamy_metrics_collector_up", "bellamy_metrics_collector_age_seconds",
]


@pytest.fixture(autouse=True)
def _fresh_collectors():
    reset_collectors()
    yield
    reset_collectors()


def get(path="/metrics", *, address="127.0.0.1", token=None, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return Client(REMOTE_ADDR=address).get(path, **headers, **extra)


def test_off_unless_configured(settings):
    settings.BELLAMY_METRICS_TOKEN, settings.BELLAMY_METRICS_ALLOW = "", []
    response = get()
    assert (response.status_code, response.json()) == (404, {"detail": "Not found.", "code": "not_found"})


def test_token_is_required_when_set(settings):
    settings.BELLAMY_METRICS_TOKEN, settings.BELLAMY_METRICS_ALLOW = TOKEN, []
    for token in (None, "", "wrong", TOKEN + "x"):
        response = get(token=token)
        assert response.status_code == 403
        assert response.json()["code"] == "metrics_token_required"
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403
    response = get(token=TOKEN)
    assert (response.status_code, response["Content-Type"]) == (200, CONTENT_TYPE_LATEST)


def test_allow_list_hides_the_endpoint_from_other_addresses(settings):
    settings.BELLAMY_METRICS_TOKEN, settings.BELLAMY_METRICS_ALLOW = "", ["10.0.0.0/8", "192.0.2.7"]
    assert get(address="127.0.0.1").status_code == 404
    assert get(address="192.0.2.8").status_code == 404
    assert get(address="10.20.30.40").status_code == 200
    assert get(address="192.0.2.7").status_code == 200
    assert get(address="::ffff:10.1.1.1").status_code == 200


def test_allow_list_and_token_must_both_pass(settings):
    settings.BELLAMY_METRICS_TOKEN, settings.BELLAMY_METRICS_ALLOW = TOKEN, ["10.0.0.0/8"]
    assert get(address="127.0.0.1", token=TOKEN).status_code == 404
    assert get(address="10.0.0.1").status_code == 403
    assert get(address="10.0.0.1", token=TOKEN).status_code == 200


def test_behind_trusted_proxies_the_forwarded_address_counts(settings):
    settings.BELLAMY_METRICS_TOKEN, settings.BELLAMY_METRICS_ALLOW = "", ["10.0.0.0/8"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # the proxy (127.0.0.1) appended the client it saw; a forged first entry is ignored
    assert get(address="127.0.0.1", HTTP_X_FORWARDED_FOR="10.0.0.5, 203.0.113.9").status_code == 404
    assert get(address="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.5").status_code == 200


def test_only_get_and_head(settings):
    settings.BELLAMY_METRICS_TOKEN, settings.BELLAMY_METRICS_ALLOW = TOKEN, []
    response = Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 405
    assert Client().head("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_a_bad_allow_list_entry_stops_the_process():
    assert [str(n) for n in parse_allow_list(["10.0.0.0/8", " 127.0.0.1 ", "", "::1"])] == [
        "10.0.0.0/8", "127.0.0.1/32", "::1/128"]
    with pytest.raises(ImproperlyConfigured, match="'10.0.0.300' is not an IP address or network"):
        parse_allow_list(["10.0.0.300"])


def test_every_family_is_announced_with_help(settings):
    settings.BELLAMY_METRICS_TOKEN, settings.BELLAMY_METRICS_ALLOW = TOKEN, []
    text = get(token=TOKEN).content.decode()
    families = parse(text)
    for name in FAMILIES:
        assert name in families, name
        assert f"# HELP {name}" in text
    # scrape-time figures of this deployment (Redis presence, the outbox; no Kafka, eager Celery)
    assert families["bellamy_metrics_collector_up"] == {
        frozenset({("collector", "presence")}): 1.0, frozenset({("collector", "outbox")}): 1.0}
    assert families["bellamy_outbox_unsent_events"] == {frozenset(): 0.0}


def test_requests_are_counted_by_url_pattern_and_scrapes_are_not(settings, user_factory, client_for):
    settings.BELLAMY_METRICS_TOKEN, settings.BELLAMY_METRICS_ALLOW = TOKEN, []
    user = user_factory(username="reader")
    other = user_factory(username="shown")
    route = resolve(f"/api/users/{other.pk}").route
    assert re.fullmatch(r"api/users/<\w+:pk>", route), route  # the pattern, whatever its converter
    before = {
        "detail": value("bellamy_http_requests_total", method="GET", route=route, status="200"),
        "missing": value("bellamy_http_requests_total", method="GET", route=route, status="404"),
        "unmatched": value("bellamy_http_requests_total", method="GET", route="<unmatched>", status="404"),
        "other": value("bellamy_http_requests_total", method="OTHER", route="<unmatched>", status="404"),
        "timed": value("bellamy_http_request_duration_seconds_count", method="GET", route=route),
    }
    client = client_for(user)
    # two different ids and one missing id: one route label, two statuses
    assert client.get(f"/api/users/{other.pk}").status_code == 200
    assert client.get(f"/api/users/{user.pk}").status_code == 200
    assert client.get("/api/users/999999999").status_code == 404
    assert client.get("/no/such/path/42").status_code == 404
    assert client.generic("BREW", "/no/such/path/43").status_code == 404
    for _ in range(3):
        assert get(token=TOKEN).status_code == 200
    assert get(token="wrong").status_code == 403

    assert value("bellamy_http_requests_total", method="GET", route=route, status="200") - before["detail"] == 2
    assert value("bellamy_http_requests_total", method="GET", route=route, status="404") - before["missing"] == 1
    assert value("bellamy_http_requests_total", method="GET", route="<unmatched>", status="404") - before[
        "unmatched"] == 1
    assert value("bellamy_http_requests_total", method="OTHER", route="<unmatched>", status="404") - before[
        "other"] == 1
    assert value("bellamy_http_request_duration_seconds_count", method="GET", route=route) - before["timed"] == 3
    # no label ever holds a raw path or the metrics route
    exposed = parse(get(token=TOKEN).content.decode())["bellamy_http_requests_total"]
    routes = {dict(labels)["route"] for labels in exposed}
    assert "metrics" not in routes
    assert not any(str(other.pk) in r or "/no/such" in r for r in routes)


def test_single_process_mode_has_no_created_series(settings):
    settings.BELLAMY_METRICS_TOKEN, settings.BELLAMY_METRICS_ALLOW = TOKEN, []
    metrics.cache_lookup("feed_page", hit=True)
    text = get(token=TOKEN).content.decode()
    assert 'bellamy_cache_requests_total{cache="feed_page",result="hit"}' in text
    assert not re.search(r"^\w+_created[{ ]", text, re.M)
