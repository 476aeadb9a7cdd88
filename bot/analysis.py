"""The canary judge: one window's counts in, PASS, FAIL or INCONCLUSIVE out, with a reason.

Pure: no I/O, no clock. It compares the canary with stable on error *counts*, which is what
the tools people use today get wrong:

- Flagger fails a canary below a fixed success rate, so a canary that errs exactly as stable
  does fails with it, and one error among 50 requests is a 2 % "failure";
- Kayenta's Mann-Whitney compares per-interval rates, which throws away how many requests
  each interval had, and scores Pass when stable had no errors at all (kayenta#799).

Here a window FAILs when, with the service's confidence,

1. the canary's 5xx share is above the absolute ceiling (a one-sided exact binomial test), or
2. the canary errs more than stable (a one-sided Fisher exact test on the 2x2 table of
   errors and successes) *and* its share is more than ``relative_margin`` worse, or
3. the canary's p99 latency is above the configured ceiling.

It PASSes only with enough traffic to show the canary stays under the ceiling (the same
binomial test the other way); fewer than ``min_requests`` canary requests, a failed
measurement, or too little traffic to tell are INCONCLUSIVE — never FAIL for lack of traffic,
never PASS either.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from scipy.special import bdtr, bdtrc, betaincinv
from scipy.stats import hypergeom

from bot.measurements import TrackCounts, TrackMeasurement, WindowMeasurement
from bot.service_spec import Analysis


class Verdict(StrEnum):
    """What a window says about the canary."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Judgment:
    """A verdict, the one-line reason for it, and the numbers it was reached from."""

    verdict: Verdict
    reason: str
    canary_requests: int = 0
    canary_errors: int = 0
    stable_requests: int = 0
    stable_errors: int = 0
    # One-sided Fisher exact p-value of "the canary errs more than stable"; None untested.
    p_worse: float | None = None
    canary_p99_ms: float | None = None

    @property
    def canary_error_ratio(self) -> float | None:
        """The canary's 5xx share, or None without canary traffic."""
        return _ratio(self.canary_errors, self.canary_requests)

    @property
    def stable_error_ratio(self) -> float | None:
        """Stable's 5xx share, or None without stable traffic."""
        return _ratio(self.stable_errors, self.stable_requests)


def judge(window: WindowMeasurement, thresholds: Analysis) -> Judgment:
    """Judge one observation window of a canary against stable (see the module doc)."""
    for measured in (window.canary, window.stable):
        if measured.error is not None:
            what = f"couldn't measure the {measured.track} track: {measured.error}"
            return Judgment(Verdict.INCONCLUSIVE, what)
    canary, stable = _whole(window.canary), _whole(window.stable)
    numbers = Judgment(
        Verdict.INCONCLUSIVE,
        "",
        canary_requests=canary[0],
        canary_errors=canary[1],
        stable_requests=stable[0],
        stable_errors=stable[1],
        p_worse=_p_worse(canary, stable),
        canary_p99_ms=window.canary.p99_ms,
    )
    verdict, reason = _decide(numbers, thresholds)
    return replace(numbers, verdict=verdict, reason=reason)


def _decide(n: Judgment, thresholds: Analysis) -> tuple[Verdict, str]:
    requests, errors = n.canary_requests, n.canary_errors
    if requests < thresholds.min_requests:
        return Verdict.INCONCLUSIVE, (
            f"only {requests:,} canary requests in the window, fewer than the "
            f"{thresholds.min_requests:,} needed to judge it"
        )
    # Two tests look at the same errors; each runs at half the risk, so a canary as good as
    # stable fails at most 1 - confidence of the time (Bonferroni).
    alpha = (1 - thresholds.confidence) / 2
    ceiling = thresholds.max_error_ratio
    sure = f"with {_percent(thresholds.confidence)} confidence"
    share = f"canary 5xx {_percent(n.canary_error_ratio or 0.0)}"
    compared = (
        share
        if n.stable_error_ratio is None
        else (f"{share} vs stable {_percent(n.stable_error_ratio)}")
    )
    over = f"over {requests:,} requests"
    # P(at least this many errors | the canary's true share is the ceiling)
    if errors > 0 and bdtrc(errors - 1, requests, ceiling) < alpha:
        return Verdict.FAIL, f"{share} {over}: above the {_percent(ceiling)} ceiling {sure}"
    if n.p_worse is not None and n.p_worse < alpha and _worse_by_margin(n, thresholds):
        return Verdict.FAIL, f"{compared} {over}: worse {sure}"
    latency = _latency(n.canary_p99_ms, thresholds.max_p99_latency_ms)
    if latency is not None:
        return latency
    # P(at most this many errors | the share is the ceiling): small means it really is under.
    if bdtr(errors, requests, ceiling) >= 1 - thresholds.confidence:
        bound = _upper_bound(errors, requests, thresholds.confidence)
        return Verdict.INCONCLUSIVE, (
            f"{share} {over}: can't show it stays under the {_percent(ceiling)} ceiling "
            f"(it may be as high as {_percent(bound)})"
        )
    if n.stable_error_ratio is None:
        return Verdict.PASS, (
            f"{share} {over}: under the {_percent(ceiling)} ceiling (no stable traffic to compare)"
        )
    return Verdict.PASS, (
        f"{compared} {over}: no worse than stable, under the {_percent(ceiling)} ceiling"
    )


def _latency(p99_ms: float | None, ceiling_ms: float | None) -> tuple[Verdict, str] | None:
    if ceiling_ms is None:
        return None
    if p99_ms is None:
        return Verdict.INCONCLUSIVE, "no p99 latency for the canary, and the service sets a ceiling"
    if p99_ms > ceiling_ms:
        return (
            Verdict.FAIL,
            f"canary p99 latency {p99_ms:,.0f} ms, above the {ceiling_ms:,.0f} ms ceiling",
        )
    return None


def _p_worse(canary: tuple[int, int], stable: tuple[int, int]) -> float | None:
    """One-sided Fisher exact test: P(the canary gets this many of all errors, or more)."""
    (canary_requests, canary_errors), (stable_requests, stable_errors) = canary, stable
    if canary_requests == 0 or stable_requests == 0:
        return None
    if canary_errors == 0:
        return 1.0
    total, all_errors = canary_requests + stable_requests, canary_errors + stable_errors
    return float(hypergeom.sf(canary_errors - 1, total, all_errors, canary_requests))


def _upper_bound(errors: int, requests: int, confidence: float) -> float:
    """The one-sided Clopper-Pearson upper bound on the canary's true 5xx share."""
    if errors >= requests:
        return 1.0
    return float(betaincinv(errors + 1, requests - errors, confidence))


def _worse_by_margin(n: Judgment, thresholds: Analysis) -> bool:
    # Significant is not enough: with lots of traffic a 5 % worse canary is "significant" too.
    # Only a canary worse than stable by more than the margin fails.
    canary, stable = n.canary_error_ratio or 0.0, n.stable_error_ratio or 0.0
    return canary > stable * (1 + thresholds.relative_margin)


def _whole(measured: TrackMeasurement) -> tuple[int, int]:
    """(requests, 5xx) as whole numbers: increase() extrapolates, so it yields fractions."""
    counts = measured.counts or TrackCounts(requests=0.0)
    requests = max(0, round(counts.requests))
    return requests, min(requests, max(0, round(counts.errors)))


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


def _percent(share: float) -> str:
    """2.4%, 0.3%, 0.05%, 0% — one decimal, or two significant digits below 0.1 %."""
    if share == 0:
        return "0%"
    if share >= 0.001:
        return f"{share * 100:.1f}".removesuffix(".0") + "%"
    return f"{share * 100:.2g}%"
