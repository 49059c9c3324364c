"""The search store contract, run identically on PostgreSQL full-text search and on SQLite FTS5
(a real SQLite database file), through the posts services and the search selectors.

Every expected value is exact: which posts match, in which order, which people and hashtags.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from posts.models import Hashtag, Post, PostHashtag
from posts.services import post_delete, post_update
from search.stores.base import HashtagHit, Hit
from tests.search.conftest import DATABASES
from tests.search.helpers import (
    NOW,
    break_index,
    found,
    hashtag_uses,
    hashtags,
    indexed_post_ids,
    matches,
    people,
    write,
)

pytestmark = pytest.mark.django_db(databases=DATABASES)

H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture
def alice(backend, user_factory):
    user = user_factory(username="alice", display_name="Alice Liddell")
    assert Post.objects.all().db == backend  # the whole app runs on the backend's database
    return user


# --- what matches ---------------------------------------------------------------------------------

def test_every_word_must_occur(alice):
    both = write(alice, "Vaccine appointment booked for Monday")
    write(alice, "Vaccine side effects were mild")
    write(alice, "Dentist appointment on Friday")
    assert found(alice, "vaccine appointment") == [both.pk]
    assert found(alice, "appointment vaccine") == [both.pk]
    assert found(alice, "vaccine appointment dentist") == []


def test_english_stemming_groups_inflections(alice):
    vaccinated = write(alice, "I got vaccinated today")
    vaccines = write(alice, "Vaccines work")
    vaccine = write(alice, "One vaccine, two doses")
    write(alice, "Vacation in Vancouver")
    for query in ("vaccination", "vaccines", "VACCINATE", "vaccine"):
        assert matches(alice, query) == {vaccine.pk, vaccines.pk, vaccinated.pk}, query
    assert found(alice, "doses") == found(alice, "dose") == [vaccine.pk]


def test_accents_and_case_are_folded(alice):
    accented = write(alice, "Café au lait")
    plain = write(alice, "cafe noir")
    upper = write(alice, "CAFÉ CRÈME")
    write(alice, "Caffeine")
    assert matches(alice, "cafe") == matches(alice, "Café") == {upper.pk, plain.pk, accented.pk}
    assert found(alice, "creme") == [upper.pk]
    assert found(alice, "naïve façade") == []
    assert found(alice, "zoe") == []


def test_quoted_words_must_be_adjacent_and_in_order(alice):
    adjacent = write(alice, "My second dose is booked")
    across_punctuation = write(alice, "That was the second. Dose three next year", age=H)
    write(alice, "Dose number two, the second one")
    write(alice, "The second big dose")
    assert matches(alice, '"second dose"') == {adjacent.pk, across_punctuation.pk}
    assert matches(alice, '"second doses"') == {adjacent.pk, across_punctuation.pk}  # stemmed too
    assert found(alice, '"dose second"') == []


def test_words_are_letters_and_digits_whatever_the_punctuation(alice):
    hyphen = write(alice, "covid-19 update")
    spaced = write(alice, "covid 19 numbers")
    underscore = write(alice, "covid_19 stats")
    glued = write(alice, "COVID19 today")
    url = write(alice, "read https://example.org/vaccine-faq now")
    expected = {underscore.pk, spaced.pk, hyphen.pk}
    assert matches(alice, "covid-19") == matches(alice, "covid 19") == matches(alice, "(covid)...19!") == expected
    assert found(alice, "covid19") == [glued.pk]
    assert found(alice, "faq") == found(alice, "example") == [url.pk]


def test_hashtags_are_found_as_written(alice):
    tagged = write(alice, "First #Pfizer shot", age=2 * H)
    word = write(alice, "Pfizer shot done", age=H)
    tagged_cafe = write(alice, "Morning at the #Café")
    assert found(alice, "#pfizer") == found(alice, "#PFIZER") == [tagged.pk]
    assert found(alice, "pfizer") == [word.pk, tagged.pk]
    assert found(alice, "#pfizer shot") == [tagged.pk]
    assert found(alice, "#pfizer moderna") == []
    assert found(alice, "#café") == found(alice, "#CAFÉ") == [tagged_cafe.pk]
    assert found(alice, "#cafe") == []  # another hashtag: tags are normalised, not folded
    assert found(alice, "#nosuchtag") == []


def test_mentions_are_found_as_written(alice, user_factory):
    bob = user_factory(username="bob_smith")
    mentions = write(alice, "Thanks @Bob_Smith for the lift", age=H)
    both = write(alice, "Lunch with @bob_smith and @alice now")
    write(alice, "bob_smith wrote this, no mention")
    write(alice, "Hello @nobody_here")
    assert found(alice, "@bob_smith") == found(alice, "@BOB_SMITH") == [both.pk, mentions.pk]
    assert found(alice, "@bob_smith @alice") == [both.pk]
    assert found(alice, "@bob_smith lift") == [mentions.pk]
    assert found(alice, "@nobody_here") == []
    assert bob.pk


def test_only_live_posts_and_only_until_they_change(alice):
    # given a post, found
    post = write(alice, "Apple pie recipe")
    assert found(alice, "apple") == [post.pk]
    # when its author edits it, the index follows in the same transaction
    post_update(post=post, user=alice, content="Banana bread recipe")
    assert found(alice, "apple") == []
    assert found(alice, "banana recipe") == [post.pk]
    # when it is deleted, its document is gone
    post_delete(post=post, user=alice)
    assert found(alice, "banana") == []
    assert post.pk not in indexed_post_ids(Post.objects.all().db)


def test_a_rolled_back_post_is_never_indexed(alice):
    with pytest.raises(RuntimeError), transaction.atomic(using=Post.objects.all().db):
        write(alice, "Ephemeral thought")
        raise RuntimeError("roll back")
    assert found(alice, "ephemeral") == []
    assert indexed_post_ids(Post.objects.all().db) == set()


def test_bulk_inserted_posts_are_indexed(alice):
    created = Post.objects.bulk_create(
        [Post(author=alice, content=f"Imported tweet number {n} about boosters", created_at=NOW - n * H) for n in range(5)]
    )
    ids = [post.pk for post in created]
    assert found(alice, "booster") == ids  # newest first at equal relevance
    assert indexed_post_ids(Post.objects.all().db) == set(ids)


# --- ranking --------------------------------------------------------------------------------------

def test_more_occurrences_rank_higher_at_the_same_age(alice):
    once = write(alice, "apple pie", age=H)
    thrice = write(alice, "apple apple apple pie", age=H)
    assert found(alice, "apple") == [thrice.pk, once.pk]


def test_newer_ranks_higher_at_the_same_relevance_and_ties_by_id(alice):
    old = write(alice, "apple pie", age=2 * D)
    new = write(alice, "apple pie", age=H)
    same_age = write(alice, "apple pie", age=H)
    assert found(alice, "apple") == [same_age.pk, new.pk, old.pk]


def test_recency_outweighs_a_small_relevance_gain(alice):
    # four half-lives older: a few more occurrences cannot make up for a factor of 16
    old_but_relevant = write(alice, "apple apple apple apple pie", age=28 * D)
    recent = write(alice, "apple crumble", age=H)
    assert found(alice, "apple") == [recent.pk, old_but_relevant.pk]


def test_pages_cover_every_match_once_in_rank_order(alice):
    posts = [write(alice, f"{'pear ' * (1 + n % 3)}tart {n}", age=(n % 5) * H) for n in range(23)]
    everything = found(alice, "pear", limit=100)
    assert sorted(everything) == sorted(post.pk for post in posts)
    assert found(alice, "pear", limit=5) == found(alice, "pear", limit=7) == everything


def test_an_older_strong_match_beats_newer_weak_ones(alice):
    # the 21 newest matches are weak (one occurrence in a long post); the best is 2 days older
    weak = [write(alice, f"melon and many other words in a rather long post number {n}", age=n * timedelta(minutes=1))
            for n in range(21)]
    strong = write(alice, "melon melon melon melon melon", age=2 * D)
    assert found(alice, "melon", limit=5)[:2] == [strong.pk, weak[0].pk]


def test_small_pages_equal_the_full_ranking_across_weeks(alice):
    # 40 matches over two months with 1..5 occurrences: every page of 4 is cut from the
    # newest matches' bound, and together they are exactly the full ranking
    posts = [write(alice, " ".join(["fig"] * (1 + n * 7 % 5) + ["jam"] * (n % 3)), age=(n * 37 % 60) * D + n * H)
             for n in range(40)]
    full = found(alice, "fig", limit=100)
    assert sorted(full) == sorted(post.pk for post in posts)
    assert found(alice, "fig", limit=4) == full
    assert found(alice, "fig", limit=1)[:10] == full[:10]


def test_store_keyset_continues_after_the_given_hit(store, alice):
    from posts.selectors import visible_posts
    from search.query import parse_post_query

    posts = [write(alice, "plum", age=n * H) for n in range(4)]
    visible = visible_posts(alice, details=False)
    first = store.search_posts(parse_post_query("plum"), visible=visible, hashtag_ids=[], mention_ids=[], limit=2)
    assert [hit.id for hit in first] == [posts[0].pk, posts[1].pk]
    assert all(isinstance(hit, Hit) for hit in first)
    rest = store.search_posts(parse_post_query("plum"), visible=visible, hashtag_ids=[], mention_ids=[], limit=10,
                              after=(first[-1].score, first[-1].id))
    assert [hit.id for hit in rest] == [posts[2].pk, posts[3].pk]
    assert first[0].score > first[1].score > rest[0].score > rest[1].score


# --- people ---------------------------------------------------------------------------------------

@pytest.fixture
def crowd(alice, user_factory):
    """Users with names that exercise prefix and trigram matching."""
    spec = [
        ("alicia", "Alicia Keys"), ("malice", "Mal Ice"), ("jonathan", "Jonathan Harker"),
        ("zoe_b", "Zoë O'Brien"), ("bjorn", "Bjørn Borg"), ("smithy", "Agent Smith"), ("ali", "Ali"),
        ("someone", "Élodie Dupont"),
    ]
    return {username: user_factory(username=username, display_name=name) for username, name in spec}


def test_people_by_prefix_exact_username_first(alice, crowd):
    # "ali" is ali's whole username (2.0), then the other prefixes by similarity
    assert people(alice, "ali") == ["ali", "alice", "alicia"]
    # "ali" is no prefix of "alic", but similar enough (3 of 6 trigrams)
    assert people(alice, "Alic") == ["alice", "alicia", "ali"]


def test_people_by_display_name_word_prefix_and_accents(alice, crowd):
    assert people(alice, "brien") == people(alice, "O'Brien") == ["zoe_b"]
    assert people(alice, "Zoe") == ["zoe_b"]
    assert people(alice, "élodie") == people(alice, "elodie") == ["someone"]
    assert people(alice, "bjorn borg") == ["bjorn"]
    assert people(alice, "smith") == ["smithy"]
    assert people(alice, "@smithy") == ["smithy"]


def test_people_with_typos(alice, crowd):
    assert people(alice, "jonathon") == ["jonathan"]
    assert people(alice, "alise") == ["ali", "alice", "alicia"]
    assert people(alice, "jonathan harkr") == ["jonathan"]
    assert people(alice, "xylophone") == []


def test_people_leave_out_blocked_and_suspended_users(alice, crowd, block):
    block(alice, crowd["alicia"])
    block(crowd["ali"], alice)
    crowd["malice"].is_active = False
    crowd["malice"].save(update_fields=["is_active"])
    assert people(alice, "ali") == ["alice"]
    assert people(alice, "mal ice") == []


def test_people_follow_renames(alice, crowd):
    crowd["jonathan"].display_name = "Mina Murray"
    crowd["jonathan"].save(update_fields=["display_name"])
    assert people(alice, "harker") == []
    assert people(alice, "mina") == ["jonathan"]


def test_people_pages(alice, user_factory):
    for n in range(7):
        user_factory(username=f"pager{n}", display_name="Pager")
    assert people(alice, "pager", limit=3) == people(alice, "pager", limit=100) == [f"pager{n}" for n in range(7)]


def test_store_people_scores(store, alice, crowd):
    from graph.selectors import searchable_users

    hits = store.search_people("ali", visible=searchable_users(viewer_id=alice.pk), limit=10)
    names = {user.pk: user.username for user in [alice, *crowd.values()]}
    # prefix bonus 1 + pg_trgm similarity: ali 1.0, alice 3/7, alicia 3/8
    assert [(names[hit.id], round(hit.score, 6)) for hit in hits] == [
        ("ali", 2.0), ("alice", round(1 + 3 / 7, 6)), ("alicia", 1.375)
    ]


# --- hashtags -------------------------------------------------------------------------------------

def test_hashtags_by_prefix_most_recently_used_first(alice, user_factory):
    bob = user_factory(username="bob")
    write(alice, "#vaccine day", age=5 * D)
    write(bob, "#vaccine again", age=4 * D)
    write(alice, "#vaccines for all", age=2 * D)
    write(bob, "#vacation mode", age=3 * D)
    write(alice, "#VaccineSideEffects none", age=D)
    write(alice, "#other tag")
    assert hashtags(alice, "vac") == [("vaccinesideeffects", 1), ("vaccines", 1), ("vacation", 1), ("vaccine", 2)]
    assert hashtags(alice, "#VACCINE") == [("vaccinesideeffects", 1), ("vaccines", 1), ("vaccine", 2)]
    assert hashtags(alice, "vacc", limit=1) == [("vaccinesideeffects", 1), ("vaccines", 1), ("vaccine", 2)]
    assert hashtags(alice, "zzz") == []


def test_hashtags_count_public_visible_live_posts_only(alice):
    public = write(alice, "#secretproject public", age=3 * H)
    write(alice, "#secretproject friends", visibility="friends", age=2 * H)
    write(alice, "#privatething private", visibility="private")
    hidden = write(alice, "#secretproject hidden", age=H, moderation_state="hidden")
    assert hashtags(alice, "secret") == [("secretproject", 1)]
    assert hashtags(alice, "private") == []
    # when the public post is deleted and the hidden one restored, the counts follow
    post_delete(post=public, user=alice)
    Post.objects.filter(pk=hidden.pk).update(moderation_state="visible")
    page = _hashtag_page(alice, "secret")
    assert [(hit.name, hit.post_count, hit.last_used_at) for hit in page] == [
        ("secretproject", 1, Post.objects.get(pk=hidden.pk).created_at)
    ]
    # and a friends-only post made public counts too
    friends = Post.objects.get(content="#secretproject friends")
    post_update(post=friends, user=alice, visibility="public")
    assert hashtags(alice, "secret") == [("secretproject", 2)]


def _hashtag_page(viewer, q):
    from search.selectors import search_hashtags

    page = search_hashtags(viewer, q=q, limit=100)
    assert all(isinstance(hit, HashtagHit) for hit in page.results)
    return page.results


def test_hashtag_counts_follow_edits_and_deletions(alice, backend):
    post = write(alice, "#alpha #beta")
    assert hashtags(alice, "alpha") == [("alpha", 1)]
    post_update(post=post, user=alice, content="#beta #gamma")
    assert hashtags(alice, "alpha") == []
    assert hashtags(alice, "beta") == [("beta", 1)]
    assert hashtags(alice, "gamma") == [("gamma", 1)]
    if backend == "default":  # PostgreSQL keeps the uses in a table of its own
        assert hashtag_uses(backend) == {("beta", post.pk), ("gamma", post.pk)}
    PostHashtag.objects.filter(post=post).delete()
    Hashtag.objects.filter(name="gamma").delete()
    assert hashtags(alice, "beta") == hashtags(alice, "gamma") == []
    if backend == "default":
        assert hashtag_uses(backend) == set()


# --- maintenance ----------------------------------------------------------------------------------

def test_reindex_rebuilds_a_broken_index_and_is_idempotent(store, alice):
    posts = [write(alice, f"#tag{n} kiwi {n}", age=n * H) for n in range(5)]
    hidden = write(alice, "#tag0 kiwi hidden", moderation_state="hidden")
    db = Post.objects.all().db
    # a consistent index: nothing to do
    result = store.reindex(using=db, batch_size=2)
    assert (result.written["posts"], result.removed["posts"]) == (0, 0)
    assert result.examined["posts"] == 6
    # when the documents and uses are lost behind the triggers' back
    break_index(db)
    assert found(alice, "kiwi") == []
    dry = store.reindex(using=db, batch_size=2, dry_run=True)
    # 6 documents are missing (and on PostgreSQL the 5 public hashtag uses); a dry run writes nothing
    missing = 11 if db == "default" else 6
    assert (dry.written["posts"], dry.removed["posts"]) == (missing, 0)
    assert found(alice, "kiwi") == []
    result = store.reindex(using=db, batch_size=2)
    assert (result.written["posts"], result.removed["posts"]) == (missing, 0)
    assert found(alice, "kiwi") == [post.pk for post in posts]
    assert hidden.pk in indexed_post_ids(db)
    assert hashtags(alice, "tag0") == [("tag0", 1)]
    again = store.reindex(using=db, batch_size=2)
    assert again.changed == 0
