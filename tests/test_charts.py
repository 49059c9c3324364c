"""The server-side SVG charts (bellamy/charts.py) shared by the analytics page and the demo report."""

import re

from bellamy.charts import bar_chart, line_chart


def test_runs_of_marked_points_become_one_band_each_with_their_first_and_last_label():
    chart = line_chart("k", "Uses", ["d1", "d2", "d3", "d4", "d5"], [1, 4, 3, 0, 2],
                       marked=[False, True, True, False, True], band_title="surge {first} – {last}")
    # 5 points over 44..628: step 146; values scaled to 4 over 12..148
    assert chart.points == "44,114 190,12 336,46 482,148 628,80"
    assert [d.marked for d in chart.dots] == [False, True, True, False, True]
    assert [(b.x, b.width, b.title) for b in chart.bands] == [(117.0, 292.0, "surge d2 – d3"), (555.0, 73.0, "surge d5 – d5")]
    svg = str(chart.svg())
    assert svg.count('class="bb-band"') == 2 and svg.count("bb-marked") == 3
    assert "<title>d2: 4</title>" in svg


def test_x_labels_first_middle_last_and_none_without_asking():
    chart = line_chart("k", "t", [f"d{i}" for i in range(9)], list(range(9)), x_labels=3)
    assert [(text, anchor) for _x, text, anchor in chart.x_labels] == [("d0", "start"), ("d4", "middle"), ("d8", "end")]
    assert chart.baseline == 160 - 12 - 16
    assert line_chart("k", "t", ["a"], [1]).x_labels == []


def test_horizontal_bars_scale_to_the_largest_and_write_values_with_their_unit():
    chart = bar_chart("t", "Timings", ["import", "live"], [2.5, 10.0], horizontal=True, unit=" s", decimals=1)
    assert [b.width for b in chart.bars] == [77.0, 308.0]  # 640 - 250 (labels) - 12 - 70 (values) = 308 for 10 s
    svg = str(chart.svg())
    assert re.findall(r'class="bb-value"[^>]*>([^<]+)<', svg) == ["2.5 s", "10.0 s"]
    assert re.findall(r"<title>([^<]+)</title>", svg) == ["import: 2.5 s", "live: 10.0 s"]


def test_every_text_is_escaped():
    svg = str(bar_chart("<k>", "<script>alert(1)</script>", ['"><img src=x>'], [1]).svg())
    assert "<script" not in svg and "<img" not in svg
    assert "&lt;script&gt;" in svg and "&quot;&gt;&lt;img src=x&gt;" in svg


def test_an_all_zero_or_empty_chart_lies_on_the_baseline():
    assert line_chart("k", "t", ["a", "b"], [0, None]).points == "44,148 628,148"
    assert bar_chart("k", "t", [], []).bars == []
