"""The canary judge: verdicts, the reasons people read, and that more errors never help."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.analysis import Verdict, judge
from bot.measurements import Track, TrackCounts, TrackMeasurement, WindowMeasurement
from bot.service_spec import Analysis

END = datetime(2026, 11, 22, 14, 10, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
DEFAULTS = Analysis()


def window(
    canary: tuple[float, float],
    stable: tuple[float, float] | None = (45_000, 0),
    *,
    canary_p99_ms: float | None = None,
    error: str | None = None,
) -> WindowMeasurement:
    """A window from (requests, 5xx) per track; stable None means it had no traffic at all."""

    def measured(track: Track, counts: tuple[float, float] | None) -> TrackMeasurement:
        requests, errors = counts or (0.0, 0.0)
        return TrackMeasurement(
            track,
            counts=TrackCounts(requests=requests, ok=requests - errors, errors=errors),
            window=WINDOW,
            p99_ms=canary_p99_ms if track is Track.CANARY else None,
        )

    return WindowMeasurement(
        start=END - WINDOW,
        end=END,
        stable=measured(Track.STABLE, stable),
        canary=TrackMeasurement(Track.CANARY, window=WINDOW, error=error)
        if error
        else measured(Track.CANARY, canary),
    )


def test_a_canary_erring_much_more_than_stable_fails_with_both_shares_in_the_reason() -> None:
    judgment = judge(window((1_180, 28), (10_620, 32)), DEFAULTS)

    assert judgment.verdict is Verdict.FAIL
    assert judgment.reason == (
        "canary 5xx 2.4% vs stable 0.3% over 1,180 requests: worse with 99% confidence"
    )
    assert judgment.p_worse is not None
    assert judgment.p_worse < 0.005


def test_a_canary_as_good_as_stable_passes_and_says_so() -> None:
    judgment = judge(window((5_000, 50), (45_000, 450)), DEFAULTS)

    assert judgment.verdict is Verdict.PASS
    assert judgment.reason == (
        "canary 5xx 1% vs stable 1% over 5,000 requests: no worse than stable, under the 5% ceiling"
    )


def test_a_canary_above_the_ceiling_fails_even_when_stable_errs_as_much() -> None:
    judgment = judge(window((5_000, 500), (45_000, 4_500)), DEFAULTS)

    assert judgment.verdict is Verdict.FAIL
    assert judgment.reason == (
        "canary 5xx 10% over 5,000 requests: above the 5% ceiling with 99% confidence"
    )


def test_errors_when_stable_had_none_fail_the_canary_where_kayenta_passes_it() -> None:
    # kayenta#799: baseline without errors, canary erring, Mann-Whitney scores Pass.
    judgment = judge(window((2_000, 10), (18_000, 0)), DEFAULTS)

    assert judgment.verdict is Verdict.FAIL
    assert judgment.reason == (
        "canary 5xx 0.5% vs stable 0% over 2,000 requests: worse with 99% confidence"
    )


def test_a_single_error_in_little_traffic_is_not_a_failure() -> None:
    # Flagger's 99 % success threshold fails this window: 1 error in 60 is 98.3 % success.
    judgment = judge(window((60, 1), (540, 5)), DEFAULTS)

    assert judgment.verdict is Verdict.INCONCLUSIVE
    assert judgment.reason == (
        "canary 5xx 1.7% over 60 requests: can't show it stays under the 5% ceiling "
        "(it may be as high as 10.6%)"
    )


def test_too_few_canary_requests_are_inconclusive_however_many_errors() -> None:
    judgment = judge(window((42, 42), (400, 0)), DEFAULTS)

    assert judgment.verdict is Verdict.INCONCLUSIVE
    assert judgment.reason == (
        "only 42 canary requests in the window, fewer than the 50 needed to judge it"
    )


def test_no_canary_traffic_at_all_is_inconclusive_not_a_failure() -> None:
    judgment = judge(window((0, 0)), DEFAULTS)

    assert judgment.verdict is Verdict.INCONCLUSIVE
    assert judgment.reason.startswith("only 0 canary requests in the window")


def test_a_small_but_significant_difference_within_the_margin_passes() -> None:
    # 1.1 % vs 1.0 % over a million requests is "significant", but only 10 % worse.
    judgment = judge(window((1_000_000, 11_000), (9_000_000, 90_000)), DEFAULTS)

    assert judgment.p_worse is not None
    assert judgment.p_worse < 0.005
    assert judgment.verdict is Verdict.PASS


def test_prometheus_unreachable_is_inconclusive_with_the_error() -> None:
    error = "Prometheus at http://127.0.0.1:9/ unreachable: connection refused"

    judgment = judge(window((1_000, 0), error=error), DEFAULTS)

    assert judgment.verdict is Verdict.INCONCLUSIVE
    assert judgment.reason == f"couldn't measure the canary track: {error}"


def test_without_stable_traffic_the_ceiling_alone_decides() -> None:
    judgment = judge(window((1_000, 2), None), DEFAULTS)

    assert judgment.verdict is Verdict.PASS
    assert judgment.reason == (
        "canary 5xx 0.2% over 1,000 requests: under the 5% ceiling (no stable traffic to compare)"
    )


def test_small_shares_keep_two_significant_digits() -> None:
    judgment = judge(window((20_000, 11), (180_000, 90)), DEFAULTS)

    assert judgment.reason.startswith("canary 5xx 0.055% vs stable 0.05% over 20,000 requests")


def test_fractional_counts_from_increase_are_rounded() -> None:
    judgment = judge(window((1_180.4, 27.6), (10_619.7, 32.2)), DEFAULTS)

    assert (judgment.canary_requests, judgment.canary_errors) == (1_180, 28)
    assert (judgment.stable_requests, judgment.stable_errors) == (10_620, 32)


LATENCY = Analysis(max_p99_latency_ms=300)


def test_a_slow_canary_fails_on_its_p99() -> None:
    judgment = judge(window((5_000, 0), canary_p99_ms=412.4), LATENCY)

    assert judgment.verdict is Verdict.FAIL
    assert judgment.reason == "canary p99 latency 412 ms, above the 300 ms ceiling"


def test_missing_latency_is_inconclusive_when_the_service_sets_a_ceiling() -> None:
    judgment = judge(window((5_000, 0)), LATENCY)

    assert judgment.verdict is Verdict.INCONCLUSIVE
    assert judgment.reason == "no p99 latency for the canary, and the service sets a ceiling"


def test_errors_are_reported_before_latency() -> None:
    judgment = judge(window((5_000, 1_000), canary_p99_ms=900), LATENCY)

    assert judgment.reason.startswith("canary 5xx 20% over 5,000 requests: above the 5% ceiling")


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.999])
def test_the_reason_names_the_configured_confidence(confidence: float) -> None:
    judgment = judge(window((2_000, 60), (18_000, 180)), Analysis(confidence=confidence))

    assert judgment.reason.endswith(f"worse with {confidence * 100:g}% confidence")


counts = st.integers(min_value=0, max_value=20_000)
thresholds = st.builds(
    Analysis,
    min_requests=st.integers(min_value=0, max_value=500),
    max_error_ratio=st.floats(min_value=0.001, max_value=1.0),
    relative_margin=st.floats(min_value=0.0, max_value=2.0),
    confidence=st.floats(min_value=0.51, max_value=0.9999),
)


@settings(max_examples=300, deadline=None)
@given(
    requests=counts,
    errors=counts,
    more=st.integers(min_value=1, max_value=5_000),
    stable_requests=counts,
    stable_errors=counts,
    analysis=thresholds,
)
def test_more_canary_errors_never_turn_a_failure_into_a_pass(
    requests: int,
    errors: int,
    more: int,
    stable_requests: int,
    stable_errors: int,
    analysis: Analysis,
) -> None:
    errors = min(errors, requests)
    stable = (stable_requests, min(stable_errors, stable_requests))
    before = judge(window((requests, errors), stable), analysis).verdict
    # More errors two ways: successes turned into errors, and extra requests that errored.
    turned = judge(window((requests, min(requests, errors + more)), stable), analysis).verdict
    added = judge(window((requests + more, errors + more), stable), analysis).verdict

    if before is Verdict.FAIL:
        assert turned is Verdict.FAIL
        assert added is Verdict.FAIL
    if before is not Verdict.PASS:  # with the same traffic, more errors never earn a pass
        assert turned is not Verdict.PASS


@settings(max_examples=200, deadline=None)
@given(requests=counts, errors=counts, stable_requests=counts, analysis=thresholds)
def test_below_the_minimum_traffic_the_answer_is_always_inconclusive(
    requests: int, errors: int, stable_requests: int, analysis: Analysis
) -> None:
    requests = min(requests, max(0, analysis.min_requests - 1))
    stable = (stable_requests, 0)

    verdict = judge(window((requests, min(errors, requests)), stable), analysis).verdict

    assert verdict is Verdict.INCONCLUSIVE
