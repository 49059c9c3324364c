"""Hashtags and mentions parsed from post and comment text.

Pure functions, no database: :func:`extract_hashtags` and :func:`extract_mentions` return
ordered, de-duplicated lists; the services resolve them to ``Hashtag`` rows and users.

Rules (API.md "Posts"):

- A **hashtag** is ``#`` followed by Unicode word characters (letters, digits, ``_``,
  combining marks), where the ``#`` is not preceded by a word character (``a#b`` is not a tag).
  The tag must contain at least one letter (``#123`` and ``#_`` are not tags, ``#2021vaccine``
  is). The name is normalised with Unicode NFC then ``casefold()`` (``#Café`` and ``#café``
  are one tag); a name longer than :data:`HASHTAG_MAX_LENGTH` characters is not a tag.
- A **mention** is ``@`` followed by 3..30 username characters ``[A-Za-z0-9_]``, where the
  ``@`` is not preceded by a word character (``bob@example.org`` is not a mention) and the
  name is not followed by another word character (``@alicé`` and a 31-character name are
  not mentions). Usernames are compared case-insensitively and returned lower-cased.
"""

from __future__ import annotations

import re
import unicodedata

#: Longest normalised hashtag name kept (``Hashtag.name`` has this ``max_length``).
HASHTAG_MAX_LENGTH = 100

_MENTION_RE = re.compile(r"(?<!\w)@([A-Za-z0-9_]{3,30})(?!\w)")


def _is_word_char(char: str) -> bool:
    """True for letters, digits, ``_`` and combining marks (Unicode categories L*, N*, M*, Pc)."""
    if char == "_":
        return True
    category = unicodedata.category(char)
    return category[0] in ("L", "N", "M") or category == "Pc"


def normalize_hashtag(name: str) -> str:
    """Return the canonical form of a hashtag name (without ``#``): NFC, then casefold.

    ``normalize_hashtag("Café") == normalize_hashtag("cafe\u0301") == "café"``.
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def extract_hashtags(text: str) -> list[str]:
    """Return the hashtags of ``text``: normalised names without ``#``, first-seen order,
    each once.

    Args:
        text: any string (post or comment content).
    Returns:
        e.g. ``extract_hashtags("#Café & #café #123 a#b #2021vaccine") == ["café", "2021vaccine"]``.
    """
    text = unicodedata.normalize("NFC", text or "")
    tags: list[str] = []
    seen: set[str] = set()
    i, n = 0, len(text)
    while i < n:
        if text[i] != "#" or (i > 0 and _is_word_char(text[i - 1])):
            i += 1
            continue
        j = i + 1
        while j < n and _is_word_char(text[j]):
            j += 1
        raw = text[i + 1 : j]
        i = j
        if not any(unicodedata.category(c).startswith("L") for c in raw):
            continue
        name = normalize_hashtag(raw)
        if len(name) > HASHTAG_MAX_LENGTH or name in seen:
            continue
        seen.add(name)
        tags.append(name)
    return tags


def extract_mentions(text: str) -> list[str]:
    """Return the usernames mentioned in ``text``, lower-cased, first-seen order, each once.

    Args:
        text: any string.
    Returns:
        e.g. ``extract_mentions("hi @Alice, @bob and @ALICE; mail carol@example.org")
        == ["alice", "bob"]``. Names are not checked against the database here.
    """
    names: list[str] = []
    seen: set[str] = set()
    for match in _MENTION_RE.finditer(unicodedata.normalize("NFC", text or "")):
        name = match.group(1).lower()
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names
