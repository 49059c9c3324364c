"""manage.py trends_recompute: rebuild from posts, windows, --as-of, bad arguments."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.trends.helpers import buckets, ledger_size, make_post
from trends.models import GlobalTrend

pytestmark = pytest.mark.django_db

T = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def posts_without_buckets(user_factory):
    """#cmd used by 3 authors in the hour before T, never synced (buckets empty)."""
    users = [user_factory() for _ in range(3)]
    for user in users:
        make_post(user, ["cmd"], T - timedelta(minutes=30), sync=False)
    return users


def test_recompute_rebuilds_buckets_and_every_window(posts_without_buckets):
    assert buckets() == {}
    out, err = StringIO(), StringIO()
    call_command("trends_recompute", "--as-of", "2024-05-10T12:00:00Z", stdout=out, stderr=err)
    assert ledger_size() == 3
    assert list(GlobalTrend.objects.order_by("window").values_list("window", "rank", "hashtag__name", "score", "unique_authors")) == [
        ("1h", 1, "cmd", 4.0, 3),
        ("24h", 1, "cmd", 4.0, 3),
        ("7d", 1, "cmd", 4.0, 3),
    ]
    assert out.getvalue().splitlines() == [
        "buckets rebuilt: 3 contributions, 1 hour buckets, 3 author buckets",
        "1h: 1 trends as of 2024-05-10T12:00:00+00:00 (top: #cmd)",
        "24h: 1 trends as of 2024-05-10T12:00:00+00:00 (top: #cmd)",
        "7d: 1 trends as of 2024-05-10T12:00:00+00:00 (top: #cmd)",
    ]
    assert "3/3" in err.getvalue()


def test_recompute_one_window_without_rebuild(posts_without_buckets):
    out = StringIO()
    call_command("trends_recompute", "--window", "1h", "--as-of", "2024-05-10T12:00", "--no-rebuild", stdout=out)
    # buckets were not rebuilt, so nothing trends
    assert out.getvalue() == "1h: 0 trends as of 2024-05-10T12:00:00+00:00 (top: -)\n"
    assert GlobalTrend.objects.count() == 0


@pytest.mark.parametrize("args", [["--window", "2h"], ["--as-of", "tomorrow"], ["--as-of", "2024-02-30"]])
def test_recompute_bad_arguments_write_nothing(posts_without_buckets, args):
    with pytest.raises(CommandError):
        call_command("trends_recompute", *args, stdout=StringIO(), stderr=StringIO())
    assert (ledger_size(), GlobalTrend.objects.count()) == (0, 0)
