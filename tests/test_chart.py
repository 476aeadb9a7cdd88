"""The window chart: a PNG of the promised size, drawn whatever the data, from any thread."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.text import Text

from bot.chart import DPI, HEIGHT_IN, WIDTH_IN, build_figure, render_window_chart
from bot.measurements import Series, Track, TrackSeries, WindowSeries

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = datetime(2024, 5, 1, 14, 0, tzinfo=UTC)
# The dashes the real titles use, so a missing glyph would warn (and fail) here.
TITLE = "fop-gate#3 step 1 window 2 \N{EM DASH} 14:00\N{EN DASH}14:10 UTC"


def series_of(rate: float, *, start: datetime = START, samples: int = 41) -> Series:
    """A gently wobbling rate sampled every 15 s from ``start``."""
    return Series(
        tuple(
            (start + timedelta(seconds=15 * i), rate * (1 + 0.1 * math.sin(i / 4)))
            for i in range(samples)
        )
    )


def window(
    *,
    stable: TrackSeries | None = None,
    canary: TrackSeries | None = None,
    start: datetime = START,
) -> WindowSeries:
    """A 10-minute window; stable gets ~9x canary's traffic unless a track is given."""
    return WindowSeries(
        start=start,
        end=start + timedelta(minutes=10),
        stable=stable
        or TrackSeries(Track.STABLE, series_of(45.0, start=start), series_of(0.05, start=start)),
        canary=canary
        or TrackSeries(Track.CANARY, series_of(5.0, start=start), series_of(0.02, start=start)),
    )


def texts_in(figure: Figure) -> list[str]:
    return [artist.get_text() for artist in figure.findobj(Text) if isinstance(artist, Text)]


def x_tick_labels(figure: Figure) -> list[str]:
    figure.draw_without_rendering()  # Tick labels are only formatted on draw.
    return [label.get_text() for label in figure.axes[-1].get_xticklabels()]


# --- The image itself


def test_chart_is_a_png_of_the_chosen_pixel_size() -> None:
    png = render_window_chart(window(), title=TITLE)

    assert png.startswith(PNG_SIGNATURE)
    height, width = imread(BytesIO(png)).shape[:2]
    assert (width, height) == (int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI)) == (960, 840)


def test_same_window_renders_the_same_bytes() -> None:
    assert render_window_chart(window(), title=TITLE) == render_window_chart(window(), title=TITLE)


def test_different_windows_render_different_images() -> None:
    busier_canary = TrackSeries(Track.CANARY, series_of(9.0), series_of(0.4))

    assert render_window_chart(window(), title=TITLE) != render_window_chart(
        window(canary=busier_canary), title=TITLE
    )


# --- What the figure shows


def test_figure_has_a_tps2xx_and_a_tps5xx_panel_with_both_tracks() -> None:
    figure = build_figure(window(), title=TITLE)

    assert [axes.get_title(loc="left") for axes in figure.axes] == ["TPS2XX", "TPS5XX"]
    for axes in figure.axes:
        assert len(axes.get_lines()) == 2
        assert axes.get_ylim()[0] == 0


def test_tracks_differ_in_colour_and_line_style() -> None:
    stable, canary = build_figure(window(), title=TITLE).axes[0].get_lines()

    assert stable.get_color() != canary.get_color()
    assert stable.get_linestyle() != canary.get_linestyle()


def test_legend_gives_each_tracks_mean_so_a_small_canary_still_reads() -> None:
    legend = build_figure(window(), title=TITLE).axes[0].get_legend()

    assert legend is not None
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels[0].startswith("stable  mean 4")
    assert labels[1].startswith("canary  mean 5")


def test_title_is_drawn_at_the_top() -> None:
    assert TITLE in texts_in(build_figure(window(), title=TITLE))


def test_clock_times_are_utc_for_naive_datetimes() -> None:
    naive_start = datetime(2024, 5, 1, 14, 0)
    labels = x_tick_labels(build_figure(window(start=naive_start), title=TITLE))

    assert labels == ["14:00", "14:02", "14:04", "14:06", "14:08", "14:10"]


def test_clock_times_follow_the_timezone_the_datetimes_carry() -> None:
    berlin_start = START.astimezone(ZoneInfo("Europe/Berlin"))
    figure = build_figure(window(start=berlin_start), title=TITLE)

    assert x_tick_labels(figure)[0] == "16:00"
    assert "time (CEST)" in texts_in(figure)


def test_ticks_fall_on_whole_minutes_of_a_quarter_hour_offset() -> None:
    kathmandu_start = START.astimezone(ZoneInfo("Asia/Kathmandu"))  # UTC+05:45

    labels = x_tick_labels(build_figure(window(start=kathmandu_start), title=TITLE))

    assert labels == ["19:46", "19:48", "19:50", "19:52", "19:54"]


def test_short_window_shows_seconds_on_every_tick() -> None:
    short = WindowSeries(
        START,
        START + timedelta(seconds=90),
        TrackSeries(Track.STABLE, series_of(45.0, samples=7)),
        TrackSeries(Track.CANARY, series_of(5.0, samples=7)),
    )

    labels = x_tick_labels(build_figure(short, title=TITLE))

    assert labels == [
        "14:00:00",
        "14:00:15",
        "14:00:30",
        "14:00:45",
        "14:01:00",
        "14:01:15",
        "14:01:30",
    ]


# --- Missing data is drawn, not raised


def test_track_with_an_error_is_drawn_with_a_note() -> None:
    failed = TrackSeries(Track.CANARY, error="Prometheus query timed out")
    figure = build_figure(window(canary=failed), title=TITLE)

    notes = [text for text in texts_in(figure) if "no data" in text]
    assert "canary: no data: Prometheus query timed out" in notes
    assert render_window_chart(window(canary=failed), title=TITLE).startswith(PNG_SIGNATURE)


def test_track_without_points_is_drawn_with_a_note() -> None:
    empty = TrackSeries(Track.STABLE)
    figure = build_figure(window(stable=empty), title=TITLE)

    assert "stable: no data: no samples in the window" in texts_in(figure)


def test_entirely_empty_window_still_renders_a_png() -> None:
    empty = window(stable=TrackSeries(Track.STABLE), canary=TrackSeries(Track.CANARY))

    png = render_window_chart(empty, title=TITLE)

    assert png.startswith(PNG_SIGNATURE)
    assert imread(BytesIO(png)).shape[:2] == (840, 960)


def test_flat_zero_rates_and_a_single_sample_render() -> None:
    zero = TrackSeries(Track.STABLE, series_of(0.0), series_of(0.0))
    one_sample = TrackSeries(Track.CANARY, series_of(5.0, samples=1), series_of(0.0, samples=1))

    png = render_window_chart(window(stable=zero, canary=one_sample), title=TITLE)

    assert png.startswith(PNG_SIGNATURE)


def test_zero_length_window_renders() -> None:
    instant = WindowSeries(START, START, TrackSeries(Track.STABLE), TrackSeries(Track.CANARY))

    assert render_window_chart(instant, title=TITLE).startswith(PNG_SIGNATURE)


# --- Worker threads


def test_renders_from_several_threads_at_once() -> None:
    windows = [
        window(canary=TrackSeries(Track.CANARY, series_of(float(n)), series_of(n / 100)))
        for n in range(1, 9)
    ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        pngs = list(pool.map(lambda w: render_window_chart(w, title=TITLE), windows))

    assert all(png.startswith(PNG_SIGNATURE) for png in pngs)
    assert pngs == [render_window_chart(w, title=TITLE) for w in windows]
