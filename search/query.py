"""What a user types into search, turned into a query the stores run.

Posts (:func:`parse_post_query`)
    - plain words must all occur (AND), each matched by its stem and without accents:
      ``vaccines`` finds "vaccine", "vaccinated"; ``cafe`` finds "café";
    - ``"two words"`` in double quotes must occur next to each other, in that order (an
      unclosed quote runs to the end of the query);
    - ``#tag`` finds posts carrying that hashtag, as the posts app parses hashtags
      (:func:`posts.parsing.extract_hashtags`: ``#Café`` and ``#café`` are one tag);
    - ``@name`` finds posts that mention that user (:func:`posts.parsing.extract_mentions`).
    Everything must hold at once. At most :data:`MAX_TERMS` terms; words are runs of letters
    and digits (:func:`search.text.words`), so punctuation never makes a query fail.

People (:func:`parse_people_query`)
    One string compared with usernames and display names by prefix and by trigram similarity;
    a leading ``@`` is ignored.

Hashtags (:func:`parse_hashtag_prefix`)
    A hashtag prefix, with or without ``#``, normalised like hashtag names.

Every parser raises :class:`InvalidQuery` (a 400 in the API) for input that cannot be searched.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from posts.parsing import HASHTAG_MAX_LENGTH, extract_hashtags, extract_mentions, normalize_hashtag
from search.text import fold, person_key, words

#: Longest accepted ``q``, in characters (after trimming).
QUERY_MAX_LENGTH = 200
#: Most terms (words, quoted words, hashtags, mentions) a post query may have.
MAX_TERMS = 16

#: Search types of ``GET /api/search``.
POSTS = "posts"
USERS = "users"
HASHTAGS = "hashtags"
TYPES = (POSTS, USERS, HASHTAGS)

_PHRASE_RE = re.compile(r'"([^"]*)"?')
_TAG_RE = re.compile(r"(?<!\w)#\w+")
_MENTION_RE = re.compile(r"(?<!\w)@\w+")
_HASHTAG_PREFIX_RE = re.compile(r"#?(\w+)")


class InvalidQuery(ValueError):
    """``q`` cannot be searched; ``str(exc)`` is the sentence the API returns."""


@dataclass(frozen=True)
class PostQuery:
    """A parsed post search.

    Attributes:
        words: words that must all occur (as typed; the store folds and stems them).
        phrases: word sequences that must occur in order, each of two or more words.
        hashtags: normalised hashtag names the post must carry.
        mentions: lower-cased usernames the post must mention.
    """

    words: tuple[str, ...] = ()
    phrases: tuple[tuple[str, ...], ...] = ()
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()

    @property
    def has_text(self) -> bool:
        """True when the query has words or phrases (full-text relevance applies)."""
        return bool(self.words or self.phrases)


def _checked(q: str) -> str:
    q = (q or "").strip()
    if not q:
        raise InvalidQuery("Enter something to search for.")
    if len(q) > QUERY_MAX_LENGTH:
        raise InvalidQuery(f"Ensure the query has at most {QUERY_MAX_LENGTH} characters.")
    return unicodedata.normalize("NFC", q)


def parse_post_query(q: str) -> PostQuery:
    """Parse a post search (grammar in the module docstring).

    Returns:
        e.g. ``parse_post_query('#Pfizer "second dose" @Alice arm')`` ==
        ``PostQuery(words=("arm",), phrases=(("second", "dose"),), hashtags=("pfizer",),
        mentions=("alice",))``. A quoted single word counts as a word.
    Raises:
        InvalidQuery: empty, longer than :data:`QUERY_MAX_LENGTH`, no searchable term, or
            more than :data:`MAX_TERMS` terms.
    """
    q = _checked(q)
    phrases: list[tuple[str, ...]] = []
    loose: list[str] = []

    def keep_phrase(match: re.Match) -> str:
        phrase = tuple(words(match.group(1)))
        if len(phrase) > 1:
            phrases.append(phrase)
        else:
            loose.extend(phrase)
        return " "

    hashtags: list[str] = []
    mentions: list[str] = []

    def keep_tag(match: re.Match) -> str:
        found = extract_hashtags(match.group(0))
        hashtags.extend(found)
        return " " if found else match.group(0)[1:]  # "#123" is no hashtag: its words stay

    def keep_mention(match: re.Match) -> str:
        found = extract_mentions(match.group(0))
        mentions.extend(found)
        return " " if found else match.group(0)[1:]

    rest = _MENTION_RE.sub(keep_mention, _TAG_RE.sub(keep_tag, _PHRASE_RE.sub(keep_phrase, q)))
    unique: dict[str, str] = {}
    for word in [*loose, *words(rest)]:
        unique.setdefault(fold(word), word)
    plain = list(unique.values())
    phrases = list(dict.fromkeys(phrases))
    hashtags = list(dict.fromkeys(hashtags))
    mentions = list(dict.fromkeys(mentions))
    terms = len(plain) + sum(len(p) for p in phrases) + len(hashtags) + len(mentions)
    if terms == 0:
        raise InvalidQuery("Enter at least one word, #hashtag or @username to search for.")
    if terms > MAX_TERMS:
        raise InvalidQuery(f"Use at most {MAX_TERMS} search terms.")
    return PostQuery(tuple(plain), tuple(phrases), tuple(hashtags), tuple(mentions))


def parse_people_query(q: str) -> str:
    """Return the people-search key of ``q`` (:func:`search.text.person_key`; a leading ``@``
    is dropped): ``parse_people_query("@Zoë_B") == "zoe b"``.

    Raises:
        InvalidQuery: empty, too long, or without a letter or digit.
    """
    key = person_key(_checked(q).removeprefix("@"))
    if not key:
        raise InvalidQuery("Enter a name or username with at least one letter or digit.")
    return key


def parse_hashtag_prefix(q: str) -> str:
    """Return the normalised hashtag prefix of ``q`` (``"#Caf" → "caf"``, ``"Café" → "café"``).

    Raises:
        InvalidQuery: empty, too long, or not one hashtag-like word (letters, digits, ``_``).
    """
    q = _checked(q)
    match = _HASHTAG_PREFIX_RE.fullmatch(q)
    if match is None:
        raise InvalidQuery("Enter the beginning of one hashtag: letters, digits and _ only.")
    prefix = normalize_hashtag(match.group(1))
    if len(prefix) > HASHTAG_MAX_LENGTH:
        raise InvalidQuery(f"Hashtags have at most {HASHTAG_MAX_LENGTH} characters.")
    return prefix


def fingerprint(kind: str, normalised: str) -> str:
    """A short digest binding a cursor to its search (``kind`` and normalised query)."""
    return hashlib.sha256(f"{kind}\x00{normalised}".encode()).hexdigest()[:12]
