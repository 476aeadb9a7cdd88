"""The window chart: TPS2XX and TPS5XX of both tracks as a small PNG for a Slack thread.

Rendering uses a bare :class:`~matplotlib.figure.Figure` on an Agg canvas and never pyplot, so
there is no global figure state and the bot can render from several worker threads at once.
Every size is passed per call rather than through ``rcParams``, which are process-wide.

The layout is fixed (margins, label and title positions) rather than computed: constrained
layout, aligned y labels and automatic title positions measure every text on every render,
and cost half of it (0.43 s of CPU a chart, against 0.22 s; bench/scale.py renders hundreds).
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from io import BytesIO

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter

from bot.measurements import Series, Track, TrackSeries, WindowSeries

# 8 x 7 in at 120 dpi = 960 x 840 px: near 4:3, so each of the two panels stays tall enough
# when Slack shrinks the image to a phone's width; fonts are sized for that shrink.
WIDTH_IN, HEIGHT_IN, DPI = 8.0, 7.0, 120
TITLE_SIZE, PANEL_TITLE_SIZE, TEXT_SIZE = 17, 15, 13
_HEADROOM = 1.35
# The panels' place in the figure (fractions of its width and height), and where the y labels
# and the panel titles sit; room for tick labels of up to five digits, and the x label below.
_MARGINS = {"left": 0.105, "right": 0.98, "top": 0.9, "bottom": 0.08, "hspace": 0.18}
_YLABEL_X = -0.095  # in axes coordinates
_SUPTITLE_Y, _PANEL_TITLE_PAD = 0.985, 6.0
# Clock-aligned tick spacings in seconds; the chart takes the finest one that gives at most
# _MAX_TICKS labels, which is as many HH:MM labels as fit across a phone screen.
_TICK_STEPS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_MAX_TICKS = 7


@dataclass(frozen=True)
class _TrackStyle:
    colour: str
    line_style: str
    line_width: float


# Blue/orange is the pair colour-blind readers tell apart best; solid against dashed keeps the
# tracks apart in greyscale too. Canary is drawn on top and thicker because it is the thin line.
_STYLES = {
    Track.STABLE: _TrackStyle(colour="#1f77b4", line_style="-", line_width=2.0),
    Track.CANARY: _TrackStyle(colour="#ff7f0e", line_style="--", line_width=2.8),
}


def render_window_chart(series: WindowSeries, *, title: str) -> bytes:
    """PNG bytes of :func:`build_figure`'s chart, the same bytes for the same input."""
    figure = build_figure(series, title=title)
    # Attached explicitly: a bare Figure has only a base canvas, and Agg is what renders PNG.
    FigureCanvasAgg(figure)
    buffer = BytesIO()
    # No "Software" entry and a fixed dpi keep the bytes free of the matplotlib version.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def build_figure(series: WindowSeries, *, title: str) -> Figure:
    """The chart as a figure: TPS2XX on top, TPS5XX below, stable and canary in each.

    Purely computational: nothing is drawn or written until the caller renders the figure.
    Both tracks share one y axis from 0. A secondary axis for the canary would make its small
    rate (stable usually gets ~9x the traffic) look as large as stable's at a glance, which is
    the wrong impression; instead the legend gives each track's mean, so a low line still
    reads as a number.
    """
    tz = series.start.tzinfo or UTC
    start, end = _as_aware(series.start), _as_aware(series.end)
    if end <= start:  # A zero-length window would make matplotlib warn about identical limits.
        end = start + timedelta(minutes=1)

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    figure.suptitle(title, fontsize=TITLE_SIZE, fontweight="bold", wrap=True, y=_SUPTITLE_Y)
    top, bottom = figure.subplots(2, 1, sharex=True)
    figure.subplots_adjust(**_MARGINS)
    tracks = (series.stable, series.canary)
    _draw_panel(top, "TPS2XX", [(t, t.tps_2xx) for t in tracks])
    _draw_panel(bottom, "TPS5XX", [(t, t.tps_5xx) for t in tracks])

    # x is POSIX seconds; the axes are shared, so the ticks set here serve both panels.
    step = _tick_step(end - start)
    # HH:MM as asked; seconds only for windows short enough to tick between whole minutes.
    clock_format = "%H:%M" if step % 60 == 0 else "%H:%M:%S"
    bottom.set_xlim(start.timestamp(), end.timestamp())
    bottom.xaxis.set_major_locator(FixedLocator(_clock_ticks(start, end, tz, step)))
    bottom.xaxis.set_major_formatter(
        FuncFormatter(
            lambda x, _pos: datetime.fromtimestamp(round(x), tz=tz).strftime(clock_format)
        )
    )
    for axes in (top, bottom):  # the same x for both: the labels line up
        axes.yaxis.set_label_coords(_YLABEL_X, 0.5)
    bottom.set_xlabel(f"time ({start.astimezone(tz).tzname() or 'UTC'})", fontsize=TEXT_SIZE)
    return figure


def _draw_panel(axes: Axes, panel_title: str, lines: list[tuple[TrackSeries, Series]]) -> None:
    notes: list[str] = []
    highest = 0.0
    for track_series, rate in lines:
        style = _STYLES[track_series.track]
        name = track_series.track.value
        times = [_as_aware(moment) for moment, _ in rate.points]
        values = [value for _, value in rate.points]
        finite = [value for value in values if math.isfinite(value)]
        if track_series.error is not None or not finite:
            reason = track_series.error or "no samples in the window"
            notes.append(f"{name}: no data: {textwrap.shorten(reason, width=160)}")
            label = f"{name}  no data"
            times, values = [], []
        else:
            label = f"{name}  mean {_rate(sum(finite) / len(finite))}/s"
            highest = max(highest, *finite)
        # An empty line still gives the legend its entry, so both tracks always appear there.
        axes.plot(
            [moment.timestamp() for moment in times],
            values,
            color=style.colour,
            linestyle=style.line_style,
            linewidth=style.line_width,
            # One sample draws no line segment, so mark it to keep it visible.
            marker="o" if len(times) == 1 else "",
            label=label,
        )

    # Headroom above the highest point keeps the top strip free for the legend, so the legend
    # never hides a line; a flat zero still needs a non-empty range.
    axes.set_ylim(0, highest * _HEADROOM if highest > 0 else 1.0)
    axes.set_title(
        panel_title,
        loc="left",
        fontsize=PANEL_TITLE_SIZE,
        fontweight="bold",
        y=1.0,  # a fixed place: no measuring of the tick labels on every render
        pad=_PANEL_TITLE_PAD,
    )
    axes.set_ylabel("per second", fontsize=TEXT_SIZE)
    axes.legend(
        loc="upper center",
        ncols=2,
        fontsize=TEXT_SIZE - 1,
        framealpha=0.9,
        borderaxespad=0.3,
        handlelength=2.6,
    )
    axes.tick_params(labelsize=TEXT_SIZE)
    axes.grid(visible=True, alpha=0.3)
    if notes:
        axes.text(
            0.5,
            0.5,
            "\n".join(textwrap.fill(note, width=60) for note in notes),
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=TEXT_SIZE,
            bbox={"boxstyle": "round", "facecolor": "#fff3cd", "edgecolor": "#b58900"},
        )


def _as_aware(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC, as Prometheus timestamps are."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _tick_step(span: timedelta) -> int:
    """The finest clock step, in seconds, that gives at most _MAX_TICKS ticks over ``span``."""
    seconds = span.total_seconds()
    return next((step for step in _TICK_STEPS if seconds / step < _MAX_TICKS), _TICK_STEPS[-1])


def _clock_ticks(start: datetime, end: datetime, tz: tzinfo, step: int) -> list[float]:
    """Ticks on whole steps of the local clock (14:00, 14:02, ...) as POSIX seconds."""
    # Aligned in local time, so an offset like +05:45 still puts ticks on whole minutes.
    offset = (start.astimezone(tz).utcoffset() or timedelta(0)).total_seconds()
    first = math.ceil((start.timestamp() + offset) / step) * step - offset
    return [float(tick) for tick in range(int(first), math.floor(end.timestamp()) + 1, step)]


def _rate(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"
