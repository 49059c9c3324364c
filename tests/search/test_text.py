"""Queries, words, folding and trigrams — and their parity between the two databases: the same
text gives the same words and stems in PostgreSQL's ``search_english`` configuration and in
SQLite's FTS5 tokenizer, and the same people keys and trigram similarities in PostgreSQL and
in :mod:`search.text` (which the SQLite store uses)."""

from __future__ import annotations

import pytest
from django.db import connections

from search.query import (
    MAX_TERMS,
    InvalidQuery,
    PostQuery,
    fingerprint,
    parse_hashtag_prefix,
    parse_people_query,
    parse_post_query,
)
from search.stores.sqlite import TOKENIZER
from search.text import fold, person_key, similarity, trigrams, words
from tests.search.conftest import SQLITE

# --- query parsing (pure) -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("vaccine", PostQuery(words=("vaccine",))),
        ('#Pfizer "second dose" @Alice arm', PostQuery(("arm",), (("second", "dose"),), ("pfizer",), ("alice",))),
        ("covid-19, again!", PostQuery(words=("covid", "19", "again"))),
        ('"one"  "two words" "unclosed phrase', PostQuery(("one",), (("two", "words"), ("unclosed", "phrase")))),
        ("#123 #_ #Café #café", PostQuery(words=("123",), hashtags=("café",))),
        ("@al mail@example.org @bob", PostQuery(words=("al", "mail", "example", "org"), mentions=("bob",))),
        ("tea Tea TEA", PostQuery(words=("tea",))),
    ],
)
def test_post_queries(q, expected):
    assert parse_post_query(q) == expected


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "Enter something to search for."),
        ("  \t ", "Enter something to search for."),
        ("x" * 201, "Ensure the query has at most 200 characters."),
        ("!!! ... ---", "Enter at least one word, #hashtag or @username to search for."),
        (" ".join(f"w{n}" for n in range(MAX_TERMS + 1)), f"Use at most {MAX_TERMS} search terms."),
        ('"a b c d e f g h" i j k l m n o p q', f"Use at most {MAX_TERMS} search terms."),
    ],
)
def test_unsearchable_post_queries(q, message):
    with pytest.raises(InvalidQuery) as error:
        parse_post_query(q)
    assert str(error.value) == message


def test_people_and_hashtag_queries():
    assert parse_people_query("@Zoë_B") == "zoe b"
    assert parse_people_query("  Jean-Luc  Picard ") == "jean luc picard"
    assert parse_hashtag_prefix("#Caf") == "caf"
    assert parse_hashtag_prefix("CAFÉ") == "café"
    for bad in ("#", "a b", "#a-b", "@x"):
        with pytest.raises(InvalidQuery):
            parse_hashtag_prefix(bad)
    with pytest.raises(InvalidQuery):
        parse_people_query("@@@")


def test_fingerprints_tell_searches_apart():
    assert fingerprint("posts", "a") == fingerprint("posts", "a")
    assert len({fingerprint("posts", "a"), fingerprint("users", "a"), fingerprint("posts", "b")}) == 3


# --- words, folding, trigrams (pure) --------------------------------------------------------------

def test_words_fold_and_keys():
    assert words("Covid-19 vaccine: it's here! #tag @me_2 x_y ①") == ["Covid", "19", "vaccine", "it", "s", "here", "tag",
                                                                     "me", "2", "x", "y", "①"]
    assert fold("Crème BRÛLÉE, Øresund, Straße, Łódź, Æsir") == "creme brulee, oresund, strasse, lodz, aesir"
    assert person_key("Zoë  O'Brien") == "zoe o brien"
    assert person_key("__") == ""


def test_trigrams_and_similarity_follow_pg_trgm():
    assert trigrams("ab") == {"  a", " ab", "ab "}
    assert trigrams("a b") == {"  a", " a ", "  b", " b "}
    assert similarity("alice", "alise") == pytest.approx(3 / 9, abs=1e-7)
    assert similarity("", "alice") == 0.0
    assert similarity("word", "word") == 1.0


# --- parity between the databases -----------------------------------------------------------------

TEXTS = [
    "The vaccines were administered; vaccinated people feel generous, generously so.",
    "Café, crème brûlée, naïve résumé, Zürich, São Paulo, Kraków, Ångström, ñandú.",
    "covid-19 COVID19 2nd dose 1e5 3.14 x2 #PfizerBioNTech @u_4d5cff2a82 https://t.co/AbC12x",
    "Running runners ran; happily hoping hopeful ponies caressed cats.",
    "emoji💉vaccine «quoted» “curly” don't won't",
]
#: Words where the two databases knowingly differ (README, "Search"): ß and œ fold in PostgreSQL
#: only; Greek accents are removed by unaccent only; Porter stems words under 3 letters in
#: PostgreSQL only ("is" → "i").
KNOWN_DIFFERENCES = {"straße": ({"strass"}, {"straß"}), "œuvre": ({"oeuvr"}, {"œuvr"}),
                     "ελληνικά": ({"ελληνικα"}, {"ελληνικά"}), "is": ({"i"}, {"is"})}


def postgres_terms(text: str) -> set[str]:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT lexeme FROM unnest(search_document(%s))", [text])
        return {row[0] for row in cursor.fetchall()}


def sqlite_terms(text: str) -> set[str]:
    with connections[SQLITE].cursor() as cursor:
        cursor.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.parity USING fts5(body, tokenize = '{TOKENIZER}')")
        cursor.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.parity_terms USING fts5vocab(temp, parity, 'row')")
        cursor.execute("DELETE FROM temp.parity")
        cursor.execute("INSERT INTO temp.parity (body) VALUES (%s)", [text])
        cursor.execute("SELECT term FROM temp.parity_terms")
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def both_databases(db, sqlite_database, postgresql_database):
    """The test database (PostgreSQL) and the SQLite file."""


@pytest.mark.django_db(databases=["default", SQLITE])
@pytest.mark.parametrize("text", TEXTS)
def test_postgresql_and_sqlite_index_the_same_terms(both_databases, text):
    assert postgres_terms(text) == sqlite_terms(text)
    assert postgres_terms(text)  # not vacuous


@pytest.mark.django_db(databases=["default", SQLITE])
@pytest.mark.parametrize("word", sorted(KNOWN_DIFFERENCES))
def test_known_differences_are_exactly_the_documented_ones(both_databases, word):
    assert (postgres_terms(word), sqlite_terms(word)) == KNOWN_DIFFERENCES[word]


NAMES = ["Zoë O'Brien", "Élodie Dupont", "Jean-Luc Picard", "ALICE_liddell", "Bjørn Borg", "Łukasz Żak",
         "François Mitterrand", "Ærøskøbing", "  spaced   out  ", "user_42", "Müller-Lüdenscheidt"]
PAIRS = [("alice", "alise"), ("jonathan", "jonathon"), ("zoe o brien", "brien"), ("ali", "alicia"),
         ("elodie dupont", "elodie"), ("jean luc picard", "picard jean"), ("a", "ab"), ("user 42", "user 24")]


@pytest.mark.django_db
def test_people_keys_and_similarity_equal_postgresql(both_databases):
    with connections["default"].cursor() as cursor:
        for name in NAMES:
            cursor.execute("SELECT search_fold(%s)", [name])
            assert cursor.fetchone()[0] == person_key(name), name
        for a, b in PAIRS:
            cursor.execute("SELECT similarity(%s, %s)::float8", [a, b])  # float4, exactly
            assert similarity(a, b) == cursor.fetchone()[0], (a, b)
