"""The demo's HTML report, built from a small fixture, opened in a real headless Chromium.

The fixture is chosen so every figure is known: three hashtags over eight days (one surges on
day 8, one on day 3, one never reaches two authors), six users with known friend counts, and
given stage timings and flows. The browser's rendered DOM must hold each chart's SVG elements
with their labels, and its screenshot must show the charts (not a blank page).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from demo import report, report_html
from graph.models import Friendship
from posts.models import Hashtag
from tests.conftest import services_required
from trends.models import HashtagAuthorBucket, HashtagBucket

pytestmark = pytest.mark.django_db

DAY1 = datetime(2024, 3, 1, 10, tzinfo=UTC)
STAGES = [("1 import users", 2.5, "6 users"), ("2 bulk load", 1.25, "x"), ("4 live posts", 4.0, "y")]
FLOW = [("1 import users", 0, 0, 0), ("2 bulk load", 0, 0, 0), ("4 live posts", 12, 30, 7)]
#: Flags that work in this environment's containers (no sandbox, no GPU, no network chatter).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "Chromium is not installed (make test installs the Debian package)"
        if services_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def run_chromium(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="bellamy-chromium-") as profile:
        return subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, timeout=timeout, check=True)


@pytest.fixture
def fixture_report(user_factory):
    users = [user_factory(username=f"r{i}") for i in range(6)]
    # friends: r0 has 4, r1 and r2 have 2, r3 and r4 have 1, r5 none
    for a, b in [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2)]:
        Friendship.objects.create(user_low_id=users[a].pk, user_high_id=users[b].pk)
    tags = {name: Hashtag.objects.create(name=name) for name in ("surging", "burst", "lonely")}

    def used(tag: str, day: int, authors: list[int]) -> None:
        start = DAY1 + timedelta(days=day - 1)
        HashtagBucket.objects.create(hashtag=tags[tag], bucket_start=start, uses=len(authors), authors=len(authors))
        HashtagAuthorBucket.objects.bulk_create(
            [HashtagAuthorBucket(hashtag=tags[tag], bucket_start=start, author=users[a]) for a in authors])

    for day in range(1, 8):
        used("surging", day, [day % 6])  # one author a day: never trends
        used("lonely", day, [5])
    used("surging", 8, [0, 1, 2, 3])  # four authors against a baseline of one: a surge
    used("lonely", 8, [5])
    used("burst", 3, [1, 2, 3])  # three authors from nothing: a surge on day 3
    result = report.collect(mode="fixture", scope="test fixture", trends_as_of=None, sample_username=None,
                            stages=STAGES, flow=FLOW)
    return result


def test_report_data_from_the_fixture(fixture_report):
    # hashtags: ordered by their highest surge score; surges exactly on the days built for them
    assert [a.name for a in fixture_report.hashtags] == ["surging", "burst", "lonely"]
    surging, burst, lonely = fixture_report.hashtags
    assert [d.day for d in surging.days] == list(range(1, 9))
    assert surging.uses == [1, 1, 1, 1, 1, 1, 1, 4]
    assert [d.day for d in surging.surges] == [8]
    assert [d.day for d in burst.surges] == [3] and burst.uses == [0, 0, 3, 0, 0, 0, 0, 0]
    assert lonely.surges == {}
    # 24 h window, expected = 1 author, observed 4: (4 - 1)² / 1 = 9, decayed over the 13 idle
    # hours between the end of the 10:00 bucket and midnight (half-life 6 h)
    assert surging.surges[surging.days[7]] == pytest.approx(9 * 0.5 ** (13 / 6))
    assert fixture_report.degrees.bins == [("0", 1), ("1", 2), ("2–3", 2), ("4–7", 1)]
    assert (fixture_report.degrees.users, fixture_report.degrees.friendships, fixture_report.degrees.max_degree) == (
        6, 5, 4)


def test_the_report_opens_in_chromium_with_every_chart_drawn(fixture_report, tmp_path):
    # given: the report written as the demo writes it
    text = report.render(fixture_report)
    text_path, html_path = report_html.write_reports(fixture_report, text, tmp_path)
    assert text_path.read_text() == text + "\n"
    html = html_path.read_text()
    # self-contained: no script, no external resource
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)

    # when: Chromium renders it
    dom = run_chromium("--dump-dom", html_path.as_uri()).stdout.decode()

    # then: every chart's SVG is in the rendered DOM, with its elements and labels
    charts = dict(re.findall(r'<svg [^>]*data-chart="([^"]+)"[^>]*>(.*?)</svg>', dom, re.S))
    assert sorted(charts) == sorted(["hashtag-surging", "hashtag-burst", "hashtag-lonely", "degrees",
                                     "flow-published", "flow-handled", "flow-notifications", "timings"])
    surging = charts["hashtag-surging"]
    assert surging.count("<circle") == 8 and surging.count("bb-marked") == 1
    assert "<title>2024-03-08: 4</title>" in surging and "<title>2024-03-01: 1</title>" in surging
    assert "<title>surge detected 2024-03-08 – 2024-03-08</title>" in surging
    assert re.findall(r'class="bb-x-label"[^>]*>([^<]+)<', surging) == ["2024-03-01", "2024-03-05", "2024-03-08"]
    assert "<title>surge detected 2024-03-03 – 2024-03-03</title>" in charts["hashtag-burst"]
    assert "bb-marked" not in charts["hashtag-lonely"]
    assert re.findall(r"<title>([^<]+)</title>", charts["degrees"]) == ["0: 1", "1: 2", "2–3: 2", "4–7: 1"]
    assert re.findall(r"<title>([^<]+)</title>", charts["timings"]) == [
        "1 import users: 2.5 s", "2 bulk load: 1.2 s", "4 live posts: 4.0 s"]
    assert re.findall(r"<title>([^<]+)</title>", charts["flow-handled"]) == [
        "1 import users: 0", "2 bulk load: 0", "4 live posts: 30"]
    assert re.search(r'id="chart-hashtag-surging">\s*<h3>#surging</h3>\s*<p class="bb-facts">11 posts over 8 days · '
                     r"1 surge day · peak score 2.0 on 2024-03-08</p>", dom)
    assert "6 users · 5 friendships · mean 1.7 friends · largest 4" in dom

    # and: a screenshot shows the charts, not a blank page
    shot = tmp_path / "report.png"
    run_chromium(f"--screenshot={shot}", "--window-size=1200,1800", html_path.as_uri())
    image = Image.open(io.BytesIO(Path(shot).read_bytes())).convert("RGB")
    assert image.size == (1200, 1800)
    pixels = list(image.get_flattened_data())
    non_white = sum(1 for p in pixels if p != (255, 255, 255))
    assert non_white > 0.02 * len(pixels)
    assert len(set(pixels)) > 50
    # the line and bar colour (#417690) and the marked-surge colour (#c0392b) are painted
    assert sum(1 for p in pixels if p == (0x41, 0x76, 0x90)) > 500
    assert sum(1 for p in pixels if p == (0xC0, 0x39, 0x2B)) > 20
