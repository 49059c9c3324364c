"""Server-side SVG charts (no JavaScript, no CDN): line charts with marked points, and bar charts.

One implementation for every page that draws figures: the staff analytics page
(``analytics.charts``) and the demo's HTML report (``demo.report_html``). A chart is plain data
(:class:`Chart`) computed by :func:`line_chart` or :func:`bar_chart`; :meth:`Chart.svg` writes
it as an ``<svg>`` element whose elements carry classes styled by :data:`STYLE` and a
``<title>`` tooltip per point or bar, so a reader — or a test — finds every value in the markup.

Coordinates are SVG user units; the SVG scales to its container's width (``viewBox``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: Drawing area of a chart (the SVG scales to the page width).
WIDTH, HEIGHT = 640, 160
#: Left margin for the axis labels, and top/right/bottom padding.
LEFT, PAD = 44, 12
#: Extra bottom margin when the x axis has labels.
X_LABELS_HEIGHT = 16

#: The CSS of every chart (include it once in the page's ``<style>``).
STYLE = mark_safe("""
.bb-chart svg { width: 100%; height: auto; display: block; }
.bb-chart .bb-axis { stroke: var(--hairline-color, #ccc); stroke-width: 1; }
.bb-chart .bb-line { fill: none; stroke: var(--link-fg, #417690); stroke-width: 2; stroke-linejoin: round; }
.bb-chart .bb-dot { fill: var(--link-fg, #417690); }
.bb-chart .bb-dot.bb-missing { fill: var(--body-quiet-color, #bbb); }
.bb-chart .bb-dot.bb-marked { fill: #c0392b; }
.bb-chart .bb-band { fill: #f5b7b1; opacity: .55; }
.bb-chart .bb-bar { fill: var(--link-fg, #417690); }
.bb-chart .bb-bar.bb-marked { fill: #c0392b; }
.bb-chart text { font-size: 11px; fill: var(--body-quiet-color, #666); }
""")


@dataclass(frozen=True)
class Point:
    """One point of a line chart: SVG coordinates, its label (a day, a bucket), its value
    (``None`` = no data, drawn at 0) and whether it is marked (e.g. a detected surge)."""

    x: float
    y: float
    label: str
    value: float | None
    marked: bool = False


@dataclass(frozen=True)
class Bar:
    """One bar: its rectangle, category label and value; ``marked`` draws it highlighted."""

    x: float
    y: float
    width: float
    height: float
    label: str
    value: float
    marked: bool = False


@dataclass(frozen=True)
class Band:
    """A shaded vertical band behind a line chart (a run of marked points) with its tooltip."""

    x: float
    width: float
    title: str


@dataclass(frozen=True)
class Chart:
    """A chart as data; :meth:`svg` draws it.

    Fields:
        key: identifier (used in element ids by the pages).
        title: human title.
        kind: ``"line"``, ``"bars"`` (vertical) or ``"hbars"`` (horizontal, long labels).
        points: the polyline's ``points`` attribute (line charts).
        dots / bars / bands: drawn elements.
        maximum: the top of the value axis; total: sum of known values; latest: last value.
        x_labels: ``[(x, text, text-anchor)]`` under the x axis.
        unit: appended to values in tooltips and value labels (``" s"``).
    """

    key: str
    title: str
    kind: str
    maximum: float
    total: float
    latest: float | None
    points: str = ""
    dots: list[Point] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    x_labels: list[tuple[float, str, str]] = field(default_factory=list)
    x_label_size: int = 11
    unit: str = ""
    decimals: int = 0
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    pad: int = PAD
    bottom: int = PAD

    @property
    def baseline(self) -> float:
        """The y coordinate of value 0."""
        return self.height - self.bottom

    def format(self, value: float | None) -> str:
        """``value`` as shown in tooltips and labels (``"no data"`` for ``None``)."""
        if value is None:
            return "no data"
        return f"{value:,.{self.decimals}f}{self.unit}"

    def svg(self) -> SafeString:
        """The chart as one ``<svg>`` element (every text escaped)."""
        parts = [
            f'<svg viewBox="0 0 {self.width} {self.height}" role="img" aria-label="{escape(self.title)}"'
            f' data-chart="{escape(self.key)}">',
        ]
        if self.kind == "hbars":
            parts += self._hbars()
        else:
            parts += [
                *(f'<rect class="bb-band" x="{b.x:g}" y="{self.pad}" width="{b.width:g}" '
                  f'height="{self.baseline - self.pad:g}"><title>{escape(b.title)}</title></rect>' for b in self.bands),
                f'<line class="bb-axis" x1="{self.left}" y1="{self.pad}" x2="{self.left}" y2="{self.baseline:g}"/>',
                f'<line class="bb-axis" x1="{self.left}" y1="{self.baseline:g}" x2="{self.width}" y2="{self.baseline:g}"/>',
                f'<text x="{self.left - 6}" y="{self.pad + 4}" text-anchor="end">{escape(self.format(self.maximum))}</text>',
                f'<text x="{self.left - 6}" y="{self.baseline:g}" text-anchor="end">0</text>',
            ]
            if self.kind == "line":
                parts.append(f'<polyline class="bb-line" points="{self.points}"/>')
                parts += [
                    f'<circle class="bb-dot{" bb-missing" if d.value is None else ""}{" bb-marked" if d.marked else ""}"'
                    f' cx="{d.x:g}" cy="{d.y:g}" r="{3.5 if d.marked else 2.5}">'
                    f'<title>{escape(d.label)}: {escape(self.format(d.value))}</title></circle>'
                    for d in self.dots
                ]
            else:
                parts += [
                    f'<rect class="bb-bar{" bb-marked" if b.marked else ""}" x="{b.x:g}" y="{b.y:g}" '
                    f'width="{b.width:g}" height="{b.height:g}"><title>{escape(b.label)}: '
                    f'{escape(self.format(b.value))}</title></rect>'
                    for b in self.bars
                ]
            size = "" if self.x_label_size == 11 else f' style="font-size:{self.x_label_size}px"'
            parts += [
                f'<text class="bb-x-label" x="{x:g}" y="{self.height - 3}" text-anchor="{anchor}"{size}>'
                f"{escape(text)}</text>"
                for x, text, anchor in self.x_labels
            ]
        parts.append("</svg>")
        return mark_safe("".join(parts))  # noqa: S308 — built from escaped text and numbers only

    def _hbars(self) -> list[str]:
        out = [f'<line class="bb-axis" x1="{self.left}" y1="{self.pad}" x2="{self.left}" '
               f'y2="{self.height - self.pad}"/>']
        for b in self.bars:
            middle = b.y + b.height / 2 + 4
            out += [
                f'<text class="bb-bar-label" x="{self.left - 6}" y="{middle:g}" text-anchor="end">{escape(b.label)}</text>',
                f'<rect class="bb-bar{" bb-marked" if b.marked else ""}" x="{b.x:g}" y="{b.y:g}" width="{b.width:g}" '
                f'height="{b.height:g}"><title>{escape(b.label)}: {escape(self.format(b.value))}</title></rect>',
                f'<text class="bb-value" x="{b.x + b.width + 4:g}" y="{middle:g}">{escape(self.format(b.value))}</text>',
            ]
        return out


def line_chart(key: str, title: str, labels: Sequence[str], values: Sequence[float | None], *,
               marked: Sequence[bool] | None = None, band_title: str = "{first} – {last}",
               x_labels: int = 0, unit: str = "", decimals: int = 0) -> Chart:
    """A line through ``values`` (one per label, oldest first), scaled to its own maximum.

    Args:
        labels: the x labels (tooltips), same length as ``values``.
        values: ``None`` = no data (drawn at 0, tooltip "no data").
        marked: per point, True to highlight it; runs of marked points also get a shaded band
            whose tooltip is ``band_title`` formatted with the run's ``first`` and ``last`` labels.
        x_labels: how many labels to write under the x axis (first, last, evenly between); 0 none.
        unit, decimals: how values are written.
    """
    known = [v for v in values if v is not None]
    maximum = max(known, default=0)
    bottom = PAD + (X_LABELS_HEIGHT if x_labels else 0)
    scale = (HEIGHT - PAD - bottom) / maximum if maximum else 0
    step = (WIDTH - LEFT - PAD) / max(len(values) - 1, 1)
    flags = list(marked) if marked is not None else [False] * len(values)
    dots = [
        Point(x=round(LEFT + i * step, 1), y=round(HEIGHT - bottom - (value or 0) * scale, 1), label=label,
              value=value, marked=flag)
        for i, (label, value, flag) in enumerate(zip(labels, values, flags, strict=True))
    ]
    bands, run_start = [], None
    for i, flag in enumerate([*flags, False]):
        if flag and run_start is None:
            run_start = i
        elif not flag and run_start is not None:
            first, last = dots[run_start], dots[i - 1]
            x = max(LEFT, first.x - step / 2)
            bands.append(Band(x=round(x, 1), width=round(min(WIDTH - PAD, last.x + step / 2) - x, 1) or 2.0,
                              title=band_title.format(first=first.label, last=last.label)))
            run_start = None
    ticks = []
    if x_labels and dots:
        count = min(x_labels, len(dots))
        picks = sorted({round(i * (len(dots) - 1) / max(count - 1, 1)) for i in range(count)})
        ticks = [(dots[i].x, dots[i].label, "start" if i == 0 else "end" if i == len(dots) - 1 else "middle")
                 for i in picks]
    return Chart(key=key, title=title, kind="line", maximum=maximum, total=sum(known),
                 latest=values[-1] if values else None, points=" ".join(f"{d.x:g},{d.y:g}" for d in dots),
                 dots=dots, bands=bands, x_labels=ticks, unit=unit, decimals=decimals, bottom=bottom)


def bar_chart(key: str, title: str, labels: Sequence[str], values: Sequence[float], *,
              horizontal: bool = False, marked: Sequence[bool] | None = None, unit: str = "",
              decimals: int = 0) -> Chart:
    """Bars of ``values`` by category, scaled to their maximum.

    Vertical bars write every label under its bar (short labels: bins, counts); horizontal bars
    (``horizontal=True``, one row of 22 units each) fit long labels (stage names) on the left and
    write each value after its bar.
    """
    flags = list(marked) if marked is not None else [False] * len(values)
    maximum = max(values, default=0)
    if horizontal:
        row, left = 22, 250
        height = PAD * 2 + row * len(values)
        span = WIDTH - left - PAD - 70  # room for the value text
        bars = [Bar(x=left, y=PAD + i * row + 3, width=round(span * v / maximum, 1) if maximum else 0,
                    height=row - 6, label=label, value=v, marked=flag)
                for i, (label, v, flag) in enumerate(zip(labels, values, flags, strict=True))]
        return Chart(key=key, title=title, kind="hbars", maximum=maximum, total=sum(values),
                      latest=values[-1] if values else None, bars=bars, unit=unit, decimals=decimals,
                      height=height, left=left)
    bottom = PAD + X_LABELS_HEIGHT
    slot = (WIDTH - LEFT - PAD) / max(len(values), 1)
    scale = (HEIGHT - PAD - bottom) / maximum if maximum else 0
    bars = [Bar(x=round(LEFT + i * slot + slot * 0.1, 1), y=round(HEIGHT - bottom - v * scale, 1),
                width=round(slot * 0.8, 1), height=round(v * scale, 1), label=label, value=v, marked=flag)
            for i, (label, v, flag) in enumerate(zip(labels, values, flags, strict=True))]
    ticks = [(round(b.x + b.width / 2, 1), b.label, "middle") for b in bars]
    # Narrow slots get smaller labels, so long ones ("1024–2047") do not run into each other.
    size = 11 if slot >= 60 else 9
    return Chart(key=key, title=title, kind="bars", maximum=maximum, total=sum(values),
                 latest=values[-1] if values else None, bars=bars, x_labels=ticks, unit=unit, decimals=decimals,
                 bottom=bottom, x_label_size=size)
