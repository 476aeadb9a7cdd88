"""How often the canary judge is right, next to the judges people use today, on the same windows.

Every cell of a grid (canary requests per window, stable's 5xx share, how much worse the
canary is) gets the same simulated windows for all three judges: ours, a fixed 99 % success
threshold (Flagger-style) and a Mann-Whitney U test (Kayenta-style). :mod:`bench.judge_windows`
simulates the windows and holds the judges; this module holds the checks the judge is held to,
the report (header, table, summary, last line), argument parsing and :func:`main`. Purely
computational apart from :func:`main`.

Run from the repository root::

    python -m bench.judge_quality [--windows 1000] [--seed 20240611] [--jobs N]

It prints the table, a summary, the checks, and last the line
``judge: false_alarm=X% detect_2x=Y% detect_3x=W% detect_zero_baseline=Z%``; it exits 1,
naming the failed checks on stderr, when any check fails.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial

from bench.judge_windows import (
    INTERVALS,
    JUDGES,
    MULTIPLIERS,
    STABLE_PER_CANARY,
    ZERO_BASELINE_CANARY_RATES,
    Cell,
    CellResult,
    JudgeName,
    Tally,
    grid,
    rate_text,
    run_grid,
)
from bench.report import Check, positive, report
from bot.service_spec import Analysis

OFFICIAL_WINDOWS = 1_000
DEFAULT_SEED = 20240611
MAX_FALSE_ALARM = 0.01
MIN_DETECTION = 0.95
MIN_DETECTION_ZERO_BASELINE = 0.99

# The three cells the last line reports.
DETECT_2X = Cell(5_000, 0.01, 0.02)
DETECT_3X = Cell(2_000, 0.01, 0.03)
DETECT_ZERO_BASELINE = Cell(2_000, 0.0, 0.005)


def pooled(results: Iterable[CellResult], name: JudgeName, which: Callable[[Cell], bool]) -> Tally:
    """One judge's rulings summed over the cells ``which`` picks."""
    return sum((r.tallies[name] for r in results if which(r.cell)), Tally(0, 0, 0))


def is_aa(cell: Cell) -> bool:
    """Picks the A/A cells."""
    return cell.is_aa


def checks(results: Sequence[CellResult], *, windows: int) -> list[Check]:
    """The conditions the judge is held to, on this run's figures."""
    by_cell = {r.cell: r for r in results}
    false_alarm = pooled(results, JudgeName.OURS, is_aa).fail_share
    fixed_false_alarm = pooled(results, JudgeName.FIXED, is_aa).fail_share
    found = [
        _detection_check(by_cell[cell], name, least)
        for cell, name, least in (
            (DETECT_2X, "detect_2x", MIN_DETECTION),
            (DETECT_3X, "detect_3x", MIN_DETECTION),
            (DETECT_ZERO_BASELINE, "detect_zero_baseline", MIN_DETECTION_ZERO_BASELINE),
        )
    ]
    return [
        Check(
            false_alarm <= MAX_FALSE_ALARM,
            f"ours: false alarms over all A/A cells {_pct(false_alarm, 2)} "
            f"≤ {_pct(MAX_FALSE_ALARM, 0)}",
        ),
        *found,
        Check(
            false_alarm < fixed_false_alarm,
            f"ours: fewer false alarms than {JudgeName.FIXED} over all A/A cells "
            f"({_pct(false_alarm, 2)} < {_pct(fixed_false_alarm, 2)})",
        ),
        _mann_whitney_check(results, by_cell),
        Check(
            windows >= OFFICIAL_WINDOWS,
            f"{windows:,} windows a cell ≥ {OFFICIAL_WINDOWS:,} (an official run)",
        ),
    ]


def _detection_check(result: CellResult, name: str, least: float) -> Check:
    share = result.tallies[JudgeName.OURS].fail_share
    return Check(share >= least, f"{name} ({result.cell.label()}) {_pct(share)} ≥ {_pct(least, 0)}")


def _mann_whitney_check(results: Sequence[CellResult], by_cell: Mapping[Cell, CellResult]) -> Check:
    """Ours detects at least as often wherever Mann-Whitney keeps its false alarms ≤ 1 %."""
    compared, short = 0, []
    for result in results:
        aa = by_cell[result.cell.aa()].tallies[JudgeName.MANN_WHITNEY]
        if result.cell.is_aa or aa.fail_share > MAX_FALSE_ALARM:
            continue
        compared += 1
        ours = result.tallies[JudgeName.OURS]
        theirs = result.tallies[JudgeName.MANN_WHITNEY]
        if ours.fail < theirs.fail:
            short.append(
                f"{result.cell.label()}: ours {_pct(ours.fail_share)} "
                f"(INCONCLUSIVE {_pct(ours.inconclusive_share)}) < {_pct(theirs.fail_share)} "
                f"(its A/A false alarms {_pct(aa.fail_share)})"
            )
    detail = (
        f"ours detects at least as often as {JudgeName.MANN_WHITNEY} in each of the "
        f"{compared} cells where its false alarms ≤ {_pct(MAX_FALSE_ALARM, 0)}"
    )
    if short:
        detail += f"; less often in {len(short)}:" + "".join(f"\n        {s}" for s in short)
    return Check(not short, detail)


def last_line(results: Sequence[CellResult]) -> str:
    """``judge: false_alarm=X% detect_2x=Y% detect_3x=W% detect_zero_baseline=Z%``."""
    by_cell = {r.cell: r for r in results}

    def detected(cell: Cell) -> str:
        return _pct(by_cell[cell].tallies[JudgeName.OURS].fail_share)

    false_alarm = _pct(pooled(results, JudgeName.OURS, is_aa).fail_share, 2)
    return (
        f"judge: false_alarm={false_alarm} detect_2x={detected(DETECT_2X)} "
        f"detect_3x={detected(DETECT_3X)} detect_zero_baseline={detected(DETECT_ZERO_BASELINE)}"
    )


def header(*, windows: int, seed: int, cells: int, thresholds: Analysis) -> list[str]:
    """What was run, and with which thresholds."""
    limits = " ".join(f"{key}={value}" for key, value in thresholds.model_dump().items())
    return [
        "judge quality: ours vs a fixed 99% success threshold (Flagger-style) vs Mann-Whitney "
        "on per-interval 5xx shares (Kayenta-style)",
        f"seed {seed}, {windows:,} windows a cell, {cells} cells; a window is {INTERVALS} "
        f"intervals, stable gets {STABLE_PER_CANARY}x the canary's requests",
        f"thresholds, Analysis() defaults: {limits}",
        f"Mann-Whitney: one-sided at confidence {thresholds.confidence}, FAIL only if the mean "
        f"ratio > {1 + thresholds.relative_margin:g} (NaN when a mean is 0: Pass, kayenta#799)",
    ]


def table(results: Sequence[CellResult]) -> list[str]:
    """One row a cell: each judge's FAIL and INCONCLUSIVE shares."""
    judges = "".join(f"  {name:>17}" for name in JUDGES)
    lines = [
        f"{'':31}{judges}",
        f"{'requests':>9} {'stable':>7} {'canary':>7} {'x':>5}"
        + "        FAIL    INC" * len(JUDGES),
    ]
    previous: tuple[float, float] | None = None
    for result in results:
        cell = result.cell
        if previous is not None and previous != (cell.stable_rate, cell.canary_rate):
            lines.append("")
        previous = (cell.stable_rate, cell.canary_rate)
        shares = "".join(
            f"  {_pct(t.fail_share):>10} {_pct(t.inconclusive_share):>6}"
            for t in result.tallies.values()
        )
        lines.append(
            f"{cell.canary_requests:>9,} {rate_text(cell.stable_rate):>7} "
            f"{rate_text(cell.canary_rate):>7} {_multiplier(cell):>5}{shares}"
        )
    return lines


def summary(results: Sequence[CellResult]) -> list[str]:
    """Each judge's false alarms, detection per multiplier, and INCONCLUSIVE share, pooled."""
    aa_cells = sum(r.cell.is_aa for r in results)
    detections: list[tuple[str, Callable[[Cell], bool]]] = [
        *(
            (f"detected at {m:g}x (stable > 0)", partial(_has_multiplier, m))
            for m in MULTIPLIERS[1:]
        ),
        *(
            (f"detected, stable 0% canary {rate_text(rate)}", partial(_zero_baseline, rate))
            for rate in ZERO_BASELINE_CANARY_RATES
        ),
    ]
    rows = [
        _summary_row(results, f"false alarms, A/A ({aa_cells} cells)", is_aa, digits=2),
        *(_summary_row(results, title, which) for title, which in detections),
        _summary_row(results, "INCONCLUSIVE, A/A cells", is_aa, inconclusive=True),
        _summary_row(results, "INCONCLUSIVE, other cells", _not_aa, inconclusive=True),
    ]
    return ["pooled over requests and stable shares" + "".join(f"{n:>15}" for n in JUDGES), *rows]


def _summary_row(
    results: Sequence[CellResult],
    title: str,
    which: Callable[[Cell], bool],
    *,
    inconclusive: bool = False,
    digits: int = 1,
) -> str:
    tallies = [pooled(results, name, which) for name in JUDGES]
    shares = [t.inconclusive_share if inconclusive else t.fail_share for t in tallies]
    return f"{title:38}" + "".join(f"{_pct(share, digits):>15}" for share in shares)


def _not_aa(cell: Cell) -> bool:
    return not cell.is_aa


def _has_multiplier(multiplier: float, cell: Cell) -> bool:
    return cell.multiplier is not None and round(cell.multiplier, 6) == multiplier


def _zero_baseline(canary_rate: float, cell: Cell) -> bool:
    return cell.stable_rate == 0 and cell.canary_rate == canary_rate


def main(argv: Sequence[str] | None = None) -> int:
    """Run the grid, print the report, and return 1 when a check fails."""
    args = _arguments().parse_args(argv)
    thresholds = Analysis()
    cells = grid()
    results = run_grid(
        cells, windows=args.windows, seed=args.seed, thresholds=thresholds, jobs=args.jobs
    )
    outcome = checks(results, windows=args.windows)
    sections = [
        header(windows=args.windows, seed=args.seed, cells=len(cells), thresholds=thresholds),
        table(results),
        summary(results),
    ]
    return report("judge_quality", sections, outcome, last_line(results))


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.judge_quality", description=__doc__)
    parser.add_argument(
        "--windows",
        type=positive,
        default=OFFICIAL_WINDOWS,
        help=f"windows a cell (default and official minimum {OFFICIAL_WINDOWS:,})",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the fixed seed")
    parser.add_argument(
        "--jobs", type=positive, default=os.cpu_count() or 1, help="processes (default: CPUs)"
    )
    return parser


def _multiplier(cell: Cell) -> str:
    if cell.is_aa:
        return "A/A"
    return "-" if cell.multiplier is None else f"{cell.multiplier:g}x"


def _pct(share: float, digits: int = 1) -> str:
    return f"{share * 100:.{digits}f}%"


if __name__ == "__main__":
    sys.exit(main())
