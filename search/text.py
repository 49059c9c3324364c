"""Text handling shared by both search backends: words, accent folding, trigrams.

Pure functions, no database. The two stores tokenise *documents* inside the database
(PostgreSQL: ``search_document()``; SQLite: the FTS5 tokenizer); the functions here tokenise
*queries* the same way, and compute people-search similarity for the SQLite store exactly as
PostgreSQL's ``pg_trgm`` does, so both backends answer the same.

Words
    A word is a maximal run of Unicode letters and digits (categories L* and N*); everything
    else — spaces, punctuation, ``_``, symbols, emoji — separates words. This is what SQLite's
    ``unicode61`` tokenizer does and what PostgreSQL's ``search_words()`` prepares for its
    parser (every non-alphanumeric run becomes one space), so ``covid-19``, ``covid 19`` and
    ``covid_19`` are the same two words everywhere, and a URL is a few words.

Accent folding
    :func:`fold`: lower case, then accents removed (Unicode NFKD without combining marks) and a
    few letters that do not decompose mapped as PostgreSQL's ``unaccent`` maps them
    (``ø → o``, ``æ → ae``, ``ß → ss``, ``ł → l`` …). ``Café`` and ``cafe`` fold to ``cafe``.

Trigrams (people search)
    :func:`trigrams` and :func:`similarity` follow ``pg_trgm``: each word is lower-cased,
    padded with two spaces in front and one behind, and cut into every 3-character window;
    similarity is ``|shared| / |union|`` of the two trigram sets, computed in single precision
    like ``pg_trgm``'s ``similarity()``.
"""

from __future__ import annotations

import re
import struct
import unicodedata
from functools import lru_cache

_WORD_RE = re.compile(r"[^\W_]+")

#: Letters that carry a stroke or are ligatures (no Unicode decomposition), folded like
#: PostgreSQL's ``unaccent.rules`` folds them.
_EXTRA_FOLDS = str.maketrans(
    {
        "ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
        "ħ": "h", "ı": "i", "ŀ": "l", "ŧ": "t", "ĸ": "k", "ŋ": "n", "ſ": "s",
    }
)


def words(text: str) -> list[str]:
    """Return the words of ``text`` in order (runs of letters and digits), unchanged in case.

    ``words("Covid-19 vaccine: it's here!") == ["Covid", "19", "vaccine", "it", "s", "here"]``.
    """
    return _WORD_RE.findall(unicodedata.normalize("NFC", text or ""))


def fold(text: str) -> str:
    """Return ``text`` lower-cased and without accents (``"Crème BRÛLÉE" → "creme brulee"``)."""
    lowered = unicodedata.normalize("NFKD", (text or "").lower())
    stripped = "".join(char for char in lowered if not unicodedata.combining(char))
    return unicodedata.normalize("NFC", stripped.translate(_EXTRA_FOLDS))


@lru_cache(maxsize=65536)
def person_key(text: str) -> str:
    """Return the searchable form of a username, display name or people query: folded words
    joined by single spaces (``"Zoë  O'Brien" → "zoe o brien"``; ``"alice_b" → "alice b"``).

    PostgreSQL computes the same key with ``search_fold()`` when it stores a person.
    """
    return " ".join(words(fold(text)))


@lru_cache(maxsize=65536)
def trigrams(key: str) -> frozenset[str]:
    """Return the ``pg_trgm`` trigram set of ``key`` (``show_trgm()`` without the hashing of
    multibyte trigrams): ``trigrams("ab") == {"  a", " ab", "ab "}``."""
    result = set()
    for word in words(key.lower()):
        padded = f"  {word} "
        result.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(result)


def _float4(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def similarity(a: str, b: str) -> float:
    """Return ``pg_trgm``'s ``similarity(a, b)``: shared trigrams over all trigrams, in
    single precision (0.0 when either has no trigram)."""
    ta, tb = trigrams(a), trigrams(b)
    shared = len(ta & tb)
    total = len(ta) + len(tb) - shared
    return _float4(shared / total) if total else 0.0
