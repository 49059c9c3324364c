"""The trending worker on the real tweet corpus, checked against an independent count.

Chosen day: 2021-01-08 (the corpus's busiest day, 210 tweets); reference time
2021-01-09T00:00Z, window 24h. The test imports the corpus as posts, rebuilds the buckets
and the trends (``manage.py trends_recompute``), then recomputes from the raw CSV — with the
csv module and plain Python, not the app's code — each hashtag's distinct authors and posts
that day, the baseline of the 7 previous days and the documented score, and compares.
"""

import csv
import gzip
import json
import unicodedata
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from tests.trends.corpus import CORPUS, import_corpus, read_rows
from trends.models import GlobalTrend

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

DAY = datetime(2021, 1, 8, tzinfo=UTC)
AS_OF = DAY + timedelta(days=1)


def independent_trends() -> list[tuple[str, int, int, float]]:
    """``[(tag, unique_authors, posts, score)]`` for DAY from the raw CSV, best first, only
    tags with ≥ 2 distinct authors that day (score per trends.trending's docstring)."""
    authors = defaultdict(lambda: defaultdict(set))  # tag → day index (0 = DAY, 1..7 before) → authors
    posts = defaultdict(int)
    last_hour = {}
    with gzip.open(CORPUS, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            at = datetime.strptime(row["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if not (AS_OF - timedelta(days=8) <= at < AS_OF):
                continue
            index = (AS_OF - at).days  # 0 for DAY, 1..7 for the baseline days
            tags = {unicodedata.normalize("NFC", unicodedata.normalize("NFC", t).casefold()) for t in json.loads(row["hashtags"])}
            for tag in tags:
                authors[tag][index].add(row["author_id"])
                if index == 0:
                    posts[tag] += 1
                    hour = at.replace(minute=0, second=0)
                    last_hour[tag] = max(last_hour.get(tag, hour), hour)
    result = []
    for tag, days in authors.items():
        observed = len(days.get(0, ()))
        if observed < 2:
            continue
        expected = max(1.0, sum(len(days.get(i, ())) for i in range(1, 8)) / 7)
        idle = (AS_OF - last_hour[tag] - timedelta(hours=1)).total_seconds() / 3600
        score = (observed - expected) ** 2 / expected * 0.5 ** (idle / 6) if observed > expected else 0.0
        result.append((tag, observed, posts[tag], score))
    return sorted(result, key=lambda t: (-t[3], -t[1], -t[2], t[0]))


def test_top_trends_of_a_real_day_match_an_independent_count():
    # given the whole corpus imported as posts
    import_corpus(read_rows())
    # when the trends are rebuilt from posts as of the end of the chosen day
    out = StringIO()
    call_command("trends_recompute", "--window", "24h", "--as-of", AS_OF.isoformat(), "--no-progress", stdout=out)
    stored = list(
        GlobalTrend.objects.filter(window="24h")
        .order_by("rank")
        .values_list("hashtag__name", "unique_authors", "post_count", "score")
    )
    expected = independent_trends()
    # then every eligible tag of the day is stored with exactly the independently counted
    # distinct authors and posts
    assert len(expected) <= 100
    assert {(t, a, p) for t, a, p, _ in stored} == {(t, a, p) for t, a, p, _ in expected}
    # and the top 10 by distinct authors is the same
    by_authors = lambda rows: sorted(((t, a) for t, a, *_ in rows), key=lambda r: (-r[1], r[0]))[:10]  # noqa: E731
    assert by_authors(stored) == by_authors(expected)
    # and the trend ranking is the same, with the same scores
    assert [t for t, *_ in stored] == [t for t, *_ in expected]
    assert [s for *_, s in stored] == pytest.approx([s for *_, s in expected], rel=1e-12)
    print("\ntop 10 trends (24h) as of", AS_OF.isoformat(), ":")
    for rank, (tag, authors, count, score) in enumerate(stored[:10], start=1):
        print(f"  {rank:2d}. #{tag}: score {score:.2f}, {authors} authors, {count} posts")
