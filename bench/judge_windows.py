"""The bench's simulated windows and the three judges that rule on them.

Every cell of a grid (canary requests per window, stable's 5xx share, how much worse the
canary is) gets the same simulated windows for all three judges:

- **ours**: :func:`bot.analysis.judge`, called per window on the window's totals, with the
  default thresholds (``Analysis()``) — what a service gets out of the box;
- **fixed 99%** (Flagger-style): FAIL when the canary's success share is under 99 %;
- **Mann-Whitney** (Kayenta-style): a one-sided Mann-Whitney U test on the per-interval 5xx
  shares of each track, FAIL only when it is significant *and* the ratio of the means is over
  ``1 + relative_margin``.

A window is ``INTERVALS`` one-minute steps; stable answers ``STABLE_PER_CANARY`` times the
canary's requests (9 + 1 replicas); errors are binomial draws per interval. Draws are seeded
per cell from the seed and the cell itself, so every figure is reproducible and a cell's draws
do not depend on which other cells run.

This module holds the grid (:class:`Cell`, :func:`grid`), the draws (:class:`Draws`,
:func:`draw`), the judges and their :class:`Tally`, and :func:`run_cell` / :func:`run_grid`,
which let every judge rule on every cell. Purely computational; :mod:`bench.judge_quality`
checks and reports the results.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial

import numpy as np
from numpy.typing import NDArray
from scipy.stats import mannwhitneyu

from bot.analysis import Verdict, judge
from bot.measurements import Track, TrackCounts, TrackMeasurement, WindowMeasurement
from bot.service_spec import Analysis

Counts = NDArray[np.int64]
Shares = NDArray[np.float64]

INTERVALS = 10  # a 10-minute window in 1-minute steps, as Kayenta would query it
WINDOW = timedelta(minutes=10)
STABLE_PER_CANARY = 9  # 9 stable replicas and 1 canary

REQUESTS = (50, 200, 1_000, 2_000, 5_000, 20_000)
STABLE_RATES = (0.0, 0.001, 0.01, 0.05)
MULTIPLIERS = (1.0, 1.5, 2.0, 3.0, 10.0)
# With stable at 0 % a multiplier means nothing: the canary errs from nothing instead.
ZERO_BASELINE_CANARY_RATES = (0.005, 0.01, 0.02)

FLAGGER_MIN_SUCCESS_PERCENT = 99

_WINDOW_START = datetime(2024, 6, 11, tzinfo=UTC)  # the judge never looks at it


class JudgeName(StrEnum):
    """The judges compared, as the report names them."""

    OURS = "ours"
    FIXED = "fixed 99%"
    MANN_WHITNEY = "Mann-Whitney"


@dataclass(frozen=True)
class Cell:
    """One point of the grid: canary requests per window and each track's true 5xx share."""

    canary_requests: int
    stable_rate: float
    canary_rate: float

    @classmethod
    def scaled(cls, canary_requests: int, stable_rate: float, multiplier: float) -> Cell:
        """The cell whose canary errs ``multiplier`` times as often as stable."""
        return cls(canary_requests, stable_rate, round(stable_rate * multiplier, 9))

    @property
    def stable_requests(self) -> int:
        """Stable's requests in the window."""
        return self.canary_requests * STABLE_PER_CANARY

    @property
    def is_aa(self) -> bool:
        """Whether the canary is exactly as good as stable (an A/A cell)."""
        return self.canary_rate == self.stable_rate

    @property
    def multiplier(self) -> float | None:
        """How many times stable's share the canary errs, or None when stable never errs."""
        return self.canary_rate / self.stable_rate if self.stable_rate > 0 else None

    def aa(self) -> Cell:
        """The A/A cell with the same requests and stable share."""
        return Cell(self.canary_requests, self.stable_rate, self.stable_rate)

    def label(self) -> str:
        """``5,000 req, stable 1%, canary 2%``."""
        return (
            f"{self.canary_requests:,} req, stable {rate_text(self.stable_rate)}, "
            f"canary {rate_text(self.canary_rate)}"
        )


def grid() -> tuple[Cell, ...]:
    """Every cell, grouped by stable share, then canary share, then requests."""
    kinds = [(stable, stable * m) for stable in STABLE_RATES[1:] for m in MULTIPLIERS]
    kinds = [(0.0, 0.0), *((0.0, rate) for rate in ZERO_BASELINE_CANARY_RATES), *kinds]
    return tuple(
        Cell(requests, stable, round(canary, 9))
        for stable, canary in kinds
        for requests in REQUESTS
    )


@dataclass(frozen=True)
class Draws:
    """One cell's simulated windows: requests per interval, 5xx per window and interval."""

    canary_requests: Counts  # (INTERVALS,)
    stable_requests: Counts  # (INTERVALS,)
    canary_errors: Counts  # (windows, INTERVALS)
    stable_errors: Counts  # (windows, INTERVALS)

    @property
    def windows(self) -> int:
        """How many windows were drawn."""
        return int(self.canary_errors.shape[0])


def draw(cell: Cell, *, windows: int, seed: int) -> Draws:
    """Binomial 5xx counts per interval for ``windows`` windows of ``cell``."""
    if cell.canary_requests < INTERVALS:
        raise ValueError(f"a cell needs at least {INTERVALS} canary requests, one an interval")
    identity = [seed, cell.canary_requests, _ppm(cell.stable_rate), _ppm(cell.canary_rate)]
    rng = np.random.default_rng(identity)
    canary_requests = split_evenly(cell.canary_requests, INTERVALS)
    stable_requests = split_evenly(cell.stable_requests, INTERVALS)
    shape = (windows, INTERVALS)
    return Draws(
        canary_requests=canary_requests,
        stable_requests=stable_requests,
        canary_errors=rng.binomial(canary_requests, cell.canary_rate, size=shape),
        stable_errors=rng.binomial(stable_requests, cell.stable_rate, size=shape),
    )


def split_evenly(total: int, parts: int) -> Counts:
    """``total`` requests over ``parts`` intervals, the first ones taking any remainder."""
    base, extra = divmod(total, parts)
    return np.array([base + (part < extra) for part in range(parts)], dtype=np.int64)


@dataclass(frozen=True)
class Tally:
    """How a judge ruled on a number of windows."""

    windows: int
    fail: int
    inconclusive: int

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.windows + other.windows,
            self.fail + other.fail,
            self.inconclusive + other.inconclusive,
        )

    @property
    def fail_share(self) -> float:
        """Share of windows judged FAIL."""
        return self.fail / self.windows if self.windows else 0.0

    @property
    def inconclusive_share(self) -> float:
        """Share of windows judged INCONCLUSIVE."""
        return self.inconclusive / self.windows if self.windows else 0.0


def judge_ours(draws: Draws, thresholds: Analysis) -> Tally:
    """The real :func:`bot.analysis.judge`, once a window, on the window's totals."""
    canary_requests = int(draws.canary_requests.sum())
    stable_requests = int(draws.stable_requests.sum())
    verdicts = Counter(
        judge(
            window_measurement(
                canary=(canary_requests, int(canary_errors)),
                stable=(stable_requests, int(stable_errors)),
            ),
            thresholds,
        ).verdict
        for canary_errors, stable_errors in zip(
            draws.canary_errors.sum(axis=1), draws.stable_errors.sum(axis=1), strict=True
        )
    )
    return Tally(draws.windows, verdicts[Verdict.FAIL], verdicts[Verdict.INCONCLUSIVE])


def judge_fixed_threshold(draws: Draws, thresholds: Analysis) -> Tally:
    """Flagger-style: FAIL when the canary's window success share is under 99 %.

    ``thresholds`` is ignored: the threshold is fixed, which is the point. Flagger also fails
    a check without data; every cell here has traffic, so that never happens.
    """
    requests = int(draws.canary_requests.sum())
    ok = requests - draws.canary_errors.sum(axis=1)
    failed = 100 * ok < FLAGGER_MIN_SUCCESS_PERCENT * requests  # whole numbers, no rounding
    return Tally(draws.windows, int(failed.sum()), 0)


def judge_mann_whitney(draws: Draws, thresholds: Analysis) -> Tally:
    """Kayenta-style: Mann-Whitney U on per-interval 5xx shares, plus the mean-ratio check.

    One-sided ("the canary's shares are greater") at our confidence; FAIL only when that is
    significant and the canary's mean share is more than ``1 + relative_margin`` times
    stable's. Never INCONCLUSIVE: every interval has traffic.
    """
    canary_shares = draws.canary_errors / draws.canary_requests
    stable_shares = draws.stable_errors / draws.stable_requests
    tested = mannwhitneyu(canary_shares, stable_shares, alternative="greater", axis=1)
    significant = np.asarray(tested.pvalue) < 1 - thresholds.confidence
    ratio = kayenta_mean_ratio(canary_shares.mean(axis=1), stable_shares.mean(axis=1))
    # NaN > x is False: a NaN ratio scores Pass, as in Kayenta.
    failed = significant & (ratio > 1 + thresholds.relative_margin)
    return Tally(draws.windows, int(failed.sum()), 0)


def kayenta_mean_ratio(experiment: Shares, control: Shares) -> Shares:
    """Mean ratio experiment/control as Kayenta computes it: NaN when either mean is 0.

    Kayenta's ``EffectSizes.meanRatio`` (kayenta-judge, EffectSizes.scala) returns NaN for a
    control mean of 0, and a NaN effect size is never "high", so a canary that errs while
    stable never does scores Pass — spinnaker/kayenta#799, "Canary analysis fails when control
    doesn't have any metrics and experiment does".
    """
    defined = (control != 0) & (experiment != 0)
    return np.divide(experiment, control, out=np.full_like(experiment, np.nan), where=defined)


def window_measurement(*, canary: tuple[int, int], stable: tuple[int, int]) -> WindowMeasurement:
    """The judge's input for one window from (requests, 5xx) of each track."""
    return WindowMeasurement(
        start=_WINDOW_START,
        end=_WINDOW_START + WINDOW,
        stable=_track(Track.STABLE, *stable),
        canary=_track(Track.CANARY, *canary),
    )


def _track(track: Track, requests: int, errors: int) -> TrackMeasurement:
    counts = TrackCounts(
        requests=float(requests), ok=float(requests - errors), errors=float(errors)
    )
    return TrackMeasurement(track, counts=counts, window=WINDOW)


JUDGES: Mapping[JudgeName, Callable[[Draws, Analysis], Tally]] = {
    JudgeName.OURS: judge_ours,
    JudgeName.FIXED: judge_fixed_threshold,
    JudgeName.MANN_WHITNEY: judge_mann_whitney,
}


@dataclass(frozen=True)
class CellResult:
    """What every judge made of one cell's windows."""

    cell: Cell
    tallies: Mapping[JudgeName, Tally]


def run_cell(cell: Cell, *, windows: int, seed: int, thresholds: Analysis) -> CellResult:
    """Draw ``cell``'s windows once and let every judge rule on them."""
    draws = draw(cell, windows=windows, seed=seed)
    return CellResult(cell, {name: rule(draws, thresholds) for name, rule in JUDGES.items()})


def run_grid(
    cells: Sequence[Cell], *, windows: int, seed: int, thresholds: Analysis, jobs: int
) -> list[CellResult]:
    """Every cell, in order, over ``jobs`` processes; the result does not depend on ``jobs``."""
    run = partial(run_cell, windows=windows, seed=seed, thresholds=thresholds)
    if jobs <= 1:
        return [run(cell) for cell in cells]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(run, cells, chunksize=4))


def rate_text(share: float) -> str:
    """A true 5xx share as labels and the report print it: ``0.005`` is ``0.5%``."""
    return f"{share * 100:g}%"


def _ppm(share: float) -> int:
    return round(share * 1_000_000)
