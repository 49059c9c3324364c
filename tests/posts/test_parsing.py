"""posts.parsing: hashtags and mentions, exact lists (no database)."""

import pytest

from posts.parsing import HASHTAG_MAX_LENGTH, extract_hashtags, extract_mentions, normalize_hashtag


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # plain and ordered, de-duplicated on first sight
        ("#django and #python", ["django", "python"]),
        ("#b #a #b #a", ["b", "a"]),
        ("", []),
        ("no tags here", []),
        # case and Unicode normalisation: NFC then casefold
        ("#Café #café #CAFÉ", ["café"]),
        ("#cafe\u0301 #Café", ["café"]),  # decomposed é is the same tag
        ("#Straße #STRASSE", ["strasse"]),  # casefold, not lower
        ("#ΣΊΣΥΦΟΣ", ["σίσυφοσ"]),
        # non-Latin letters and combining marks are word characters
        ("#हिन्दी #日本語 #русский", ["हिन्दी", "日本語", "русский"]),
        # digits: only-digits is not a tag, letters after digits are
        ("#123 #2021vaccine #١٢٣", ["2021vaccine"]),
        ("#_ #__ #a_b #_x", ["a_b", "_x"]),
        # a bare # or one followed by punctuation is not a tag
        ("# #. #! #", []),
        # preceded by a word character is not a tag
        ("a#b c#d", []),
        ("#x#y", ["x"]),
        ("é#tag", []),
        # punctuation and emoji around a tag end it, never join it
        ("(#tag), #end.", ["tag", "end"]),
        ("🎉#party🎉 #fun🔥", ["party", "fun"]),
        ("##double", ["double"]),
        ("#emoji🎉only", ["emoji"]),
        ("#with-dash", ["with"]),
        ("line\n#next\tline", ["next"]),
    ],
)
def test_extract_hashtags(text, expected):
    # given the text / when parsed / then exactly these normalised tags, in order
    assert extract_hashtags(text) == expected


def test_hashtag_of_max_length_is_kept_and_longer_is_not():
    # given tags of 100 and 101 letters
    ok, too_long = "a" * HASHTAG_MAX_LENGTH, "b" * (HASHTAG_MAX_LENGTH + 1)
    # when parsed / then only the 100-character one is a tag
    assert extract_hashtags(f"#{ok} #{too_long}") == [ok]


def test_normalize_hashtag():
    assert normalize_hashtag("Café") == "café"
    assert normalize_hashtag("CAFE\u0301") == "café"
    assert normalize_hashtag("ǅ") == "ǆ"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi @alice and @bob", ["alice", "bob"]),
        ("@Alice @ALICE @alice", ["alice"]),  # case-insensitive, first seen, lower-cased
        ("@bob, @alice!", ["bob", "alice"]),
        ("mail carol@example.org", []),  # e-mail is not a mention
        ("x@dave", []),
        ("@ab @abc", ["abc"]),  # 3..30 characters
        ("@" + "a" * 30, ["a" * 30]),
        ("@" + "a" * 31, []),  # too long: not truncated into a mention
        ("@alicé", []),  # followed by a non-username word character
        ("(@eve) [@frank]", ["eve", "frank"]),
        ("🎉@party_people🎉", ["party_people"]),
        ("@under_score_1", ["under_score_1"]),
        ("@ @. @-x", []),
        ("@@dave", ["dave"]),
        ("", []),
    ],
)
def test_extract_mentions(text, expected):
    # given the text / when parsed / then exactly these usernames, in order
    assert extract_mentions(text) == expected
