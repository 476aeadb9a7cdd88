"""The judge-quality bench's figures on the cells the issue names, and how the bench is built.

Same seed and windows as ``python -m bench.judge_quality``, so these are the bench's own
numbers for these cells (a cell's draws depend only on the seed and the cell).
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pytest

from bench.judge_quality import (
    DEFAULT_SEED,
    DETECT_2X,
    DETECT_3X,
    DETECT_ZERO_BASELINE,
    MAX_FALSE_ALARM,
    OFFICIAL_WINDOWS,
    last_line,
    main,
)
from bench.judge_windows import (
    Cell,
    CellResult,
    JudgeName,
    draw,
    grid,
    kayenta_mean_ratio,
    run_cell,
    split_evenly,
)
from bot.service_spec import Analysis

STABLE_1_PERCENT_AA = Cell(1_000, 0.01, 0.01)
AA_CELLS = (STABLE_1_PERCENT_AA, Cell(20_000, 0.001, 0.001), Cell(1_000, 0.05, 0.05))


@cache
def result(cell: Cell) -> CellResult:
    """The bench's official run of one cell, computed once for the whole module."""
    return run_cell(cell, windows=OFFICIAL_WINDOWS, seed=DEFAULT_SEED, thresholds=Analysis())


def fail_share(cell: Cell, name: JudgeName = JudgeName.OURS) -> float:
    """Share of the cell's windows the judge ruled FAIL."""
    return result(cell).tallies[name].fail_share


class TestOurJudge:
    @pytest.mark.parametrize(
        ("cell", "least"),
        [
            pytest.param(DETECT_2X, 0.95, id="2x-stable-1pct-5000-requests"),
            pytest.param(DETECT_3X, 0.95, id="3x-stable-1pct-2000-requests"),
            pytest.param(DETECT_ZERO_BASELINE, 0.99, id="canary-0.5pct-stable-0-2000-requests"),
        ],
    )
    def test_detects_a_worse_canary_in_the_named_cells(self, cell: Cell, least: float) -> None:
        assert fail_share(cell) >= least

    @pytest.mark.parametrize("cell", AA_CELLS, ids=lambda cell: cell.label())
    def test_rarely_fails_a_canary_as_good_as_stable(self, cell: Cell) -> None:
        assert fail_share(cell) <= MAX_FALSE_ALARM


class TestAlternatives:
    def test_fixed_threshold_fails_a_canary_as_good_as_stable_far_more_often(self) -> None:
        fixed = fail_share(STABLE_1_PERCENT_AA, JudgeName.FIXED)
        ours = fail_share(STABLE_1_PERCENT_AA)
        assert fixed > 0.2
        assert fixed > 10 * ours

    def test_mann_whitney_misses_errors_when_stable_has_none(self) -> None:
        # kayenta#799: the mean ratio is NaN when stable's mean is 0, and NaN scores Pass.
        assert fail_share(DETECT_ZERO_BASELINE, JudgeName.MANN_WHITNEY) == 0.0

    def test_kayenta_mean_ratio_is_nan_when_either_mean_is_zero(self) -> None:
        ratio = kayenta_mean_ratio(np.array([0.02, 0.0, 0.03]), np.array([0.0, 0.01, 0.01]))
        assert np.isnan(ratio[:2]).all()
        assert ratio[2] == pytest.approx(3.0)


class TestSimulation:
    def test_a_cells_draws_depend_only_on_the_seed_and_the_cell(self) -> None:
        first = draw(DETECT_3X, windows=50, seed=7)
        again = draw(DETECT_3X, windows=50, seed=7)
        other_seed = draw(DETECT_3X, windows=50, seed=8)
        assert np.array_equal(first.canary_errors, again.canary_errors)
        assert np.array_equal(first.stable_errors, again.stable_errors)
        assert not np.array_equal(first.stable_errors, other_seed.stable_errors)

    def test_stable_gets_nine_times_the_canarys_requests_spread_over_the_intervals(self) -> None:
        drawn = draw(DETECT_2X, windows=3, seed=1)
        assert drawn.canary_requests.sum() == 5_000
        assert drawn.stable_requests.sum() == 45_000
        assert drawn.canary_errors.shape == (3, 10)

    def test_split_evenly_keeps_every_request(self) -> None:
        assert split_evenly(53, 10).tolist() == [6, 6, 6, 5, 5, 5, 5, 5, 5, 5]

    def test_the_grid_holds_the_cells_the_last_line_reports(self) -> None:
        cells = set(grid())
        assert {DETECT_2X, DETECT_3X, DETECT_ZERO_BASELINE, *AA_CELLS} <= cells


class TestReport:
    def test_last_line_has_the_four_figures(self) -> None:
        results = [result(cell) for cell in (DETECT_2X, DETECT_3X, DETECT_ZERO_BASELINE)]
        results += [result(cell) for cell in AA_CELLS]
        assert re.fullmatch(
            r"judge: false_alarm=\d+\.\d\d% detect_2x=\d+\.\d% detect_3x=\d+\.\d% "
            r"detect_zero_baseline=\d+\.\d%",
            last_line(results),
        )

    def test_a_short_run_fails_as_unofficial_yet_still_ends_with_the_judge_line(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        status = main(["--windows", "5", "--jobs", "1"])
        out, err = capsys.readouterr()
        assert status == 1
        assert "5 windows a cell" in err
        assert out.rstrip("\n").splitlines()[-1].startswith("judge: false_alarm=")
