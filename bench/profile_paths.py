"""Profile the two slowest request paths with pyinstrument and print where time goes.

1. ``POST /api/Post/users/{id}`` (post creation: validation, parsing, insert, outbox, commit);
2. ``GET /api/feed/`` uncached, ranked (candidate query, graph weights, ranking, page load).

Runs in-process through DRF's test client on PostgreSQL/Redis with Kafka as the bus (the
production backends, without the HTTP server). Run: ``.venv/bin/python bench/profile_paths.py``.
"""

from __future__ import annotations

import os

from _common import setup_django


def main() -> None:
    os.environ.setdefault("BELLAMY_EVENTS_URL", "kafka://127.0.0.1:9092")
    os.environ.setdefault("BELLAMY_TOPIC_PREFIX", "profile.")
    setup_django("bellamy_bench_feed")
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from pyinstrument import Profiler
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    user = get_user_model().objects.get(username="bench_viewer")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    for name, call in (
        ("post creation ×100", lambda i: client.post(f"/api/Post/users/{user.pk}", {"content": f"profile #p {i}"}, format="json")),
        ("uncached ranked feed ×30", lambda i: (cache.clear(), client.get("/api/feed/?limit=20"))),
    ):
        call(0)
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for i in range(100 if name.startswith("post") else 30):
            call(i)
        profiler.stop()
        print(f"\n===== {name} =====")
        print(profiler.output_text(unicode=False, color=False, show_all=False, timeline=False))


if __name__ == "__main__":
    main()
