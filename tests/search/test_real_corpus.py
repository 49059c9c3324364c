"""Search on the real tweet corpus, on both backends, against counts made from the raw file.

The corpus (``pfizer_vaccine_tweets.csv.gz``, 9,214 tweets, read in place) is imported as
public posts by the trends tests' importer (hashtags from the ``hashtags`` column). The
expected matches are computed here from the raw CSV with the standard library only: a
tweet's words are its runs of letters and digits, lower-cased, accents removed — so each term
below is chosen for an unambiguous definition on the raw text:

- ``biontech``: a word equal to "biontech" (no other word of the corpus has its stem);
- ``kariko``: "kariko" or "karikó" (accent folding on real names);
- ``doses``: one of the inflections dose, doses, dosed, dosing (English stemming; the corpus has
  no other word with that stem — "dosage" is another);
- ``"second dose"``: "second" or "seconds" directly followed by one of those inflections;
- ``moderna biontech``: both words anywhere;
- ``#pfizer``: the hashtag "pfizer" in the ``hashtags`` column (case-folded).

And the hashtags starting with ``pfizer``: every such tag of the column with its number of
tweets, most recently used first.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import unicodedata
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from tests.search.conftest import DATABASES
from tests.search.helpers import found, hashtags
from tests.trends.corpus import CORPUS, import_corpus, read_rows

pytestmark = [pytest.mark.django_db(databases=DATABASES), pytest.mark.slow]

DOSE = {"dose", "doses", "dosed", "dosing"}


def raw_rows() -> list[dict]:
    with gzip.open(CORPUS, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def tokens(text: str) -> list[str]:
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return re.findall(r"[^\W_]+", folded)


def expected_posts(rows: list[dict]) -> dict[str, set[str]]:
    """Corpus ``post_id`` values matching each query, from the raw text."""
    result = defaultdict(set)
    for row in rows:
        words = tokens(row["text"])
        present = set(words)
        tags = {unicodedata.normalize("NFC", t.casefold()) for t in json.loads(row["hashtags"] or "[]")}
        if "biontech" in present:
            result["biontech"].add(row["post_id"])
        if "kariko" in present:
            result["kariko"].add(row["post_id"])
        if present & DOSE:
            result["doses"].add(row["post_id"])
        if any(a in ("second", "seconds") and b in DOSE for a, b in zip(words, words[1:])):
            result['"second dose"'].add(row["post_id"])
        if {"moderna", "biontech"} <= present:
            result["moderna biontech"].add(row["post_id"])
        if "pfizer" in tags:
            result["#pfizer"].add(row["post_id"])
    return result


def expected_hashtags(rows: list[dict], prefix: str) -> list[tuple[str, int]]:
    """``(tag, tweets)`` of the tags starting with ``prefix``, most recently used first, then name."""
    count, last = defaultdict(int), {}
    for row in rows:
        at = datetime.strptime(row["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        for tag in {unicodedata.normalize("NFC", t.casefold()) for t in json.loads(row["hashtags"] or "[]")}:
            if tag.startswith(prefix) and len(tag) <= 100:
                count[tag] += 1
                last[tag] = max(last.get(tag, at), at)
    return [(tag, count[tag]) for tag in sorted(count, key=lambda t: (-last[t].timestamp(), t))]


def test_search_finds_exactly_the_tweets_counted_from_the_raw_file(backend, user_factory):
    rows = raw_rows()
    expected = expected_posts(rows)
    # every term is meaningful: found in some tweets, not in most
    assert set(expected) == {"biontech", "kariko", "doses", '"second dose"', "moderna biontech", "#pfizer"}
    assert all(5 <= len(ids) <= len(rows) // 4 for ids in expected.values()), {q: len(i) for q, i in expected.items()}
    post_ids = import_corpus(read_rows())
    corpus_id = {pk: corpus for corpus, pk in post_ids.items()}
    viewer = user_factory(username="reader")
    for query, ids in expected.items():
        got = found(viewer, query)
        assert len(got) == len(set(got)), query
        assert {corpus_id[pk] for pk in got} == ids, query
    assert hashtags(viewer, "pfizer") == expected_hashtags(rows, "pfizer")
