"""A release's own steps and window, chosen when it starts in place of ``services.yaml``'s.

The front doors read what a person typed (:func:`parse_steps`, :func:`parse_window`); the engine
checks it against the service by the rules ``services.yaml`` itself is held to
(:func:`apply_overrides`) and, for as long as the release lives, acts on the service as the
release sees it (:func:`release_spec`), so the next step never depends on what ``services.yaml``
says now. Purely computational, no side effects.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from pydantic import ValidationError

from bot.durations import format_duration, parse_duration
from bot.release import Plan, PlanOverrides
from bot.service_spec import Observation, ServiceSpec
from bot.settings import describe_error
from bot.strategy_specs import SteppedSpec, StrategyKind

MAX_STEPS = 10
# Observation windows are minutes long; a longer one is a typo the scheduler should never see.
MAX_WINDOW = timedelta(days=1)
# What the numbers of a strategy's steps are, in the words a refusal uses.
_STEP_VALUES = {
    StrategyKind.CANARY_DEPLOYMENT: "canary replicas",
    StrategyKind.PAUSED_ROLLOUT: "new pods",
    StrategyKind.ISTIO: "istio weights",
}


class OverrideError(ValueError):
    """Steps or a window the service cannot use; the message is for the person who asked."""


def parse_steps(text: str, *, option: str = "steps=") -> tuple[int, ...]:
    """Read ``10,50,100``: at most MAX_STEPS positive whole numbers, each above the one before.

    `option` is the option as the person wrote it (``steps=`` in chat, ``--steps `` on the
    command line); errors quote it with the text.

    Raises:
        ValueError: one sentence saying what is wrong, with an example of the right form.
    """
    parts = text.split(",")
    # isdigit alone would pass other scripts' digits, which int() reads but no one means here.
    if not all(part.isascii() and part.isdigit() and int(part) > 0 for part in parts):
        raise ValueError(f"{option}{text} is not a list of positive whole numbers, e.g. 10,50,100")
    steps = tuple(int(part) for part in parts)
    if len(steps) > MAX_STEPS:
        raise ValueError(f"{option}{text} has {len(steps)} steps: at most {MAX_STEPS} are allowed")
    # services.yaml demands the same of every strategy's steps, so the release could not use them.
    if any(later <= earlier for earlier, later in pairwise(steps)):
        raise ValueError(f"{option}{text} must increase from step to step, e.g. 10,50,100")
    return steps


def format_steps(steps: tuple[int, ...]) -> str:
    """Write steps the way :func:`parse_steps` reads them: ``10,50,100``."""
    return ",".join(map(str, steps))


def parse_window(text: str, *, option: str = "window=") -> timedelta:
    """Read one observation window, ``10m`` or ``1h30m``, no longer than MAX_WINDOW.

    Raises:
        ValueError: one sentence quoting `option` and the text.
    """
    try:
        window = parse_duration(text)
    except (ValueError, OverflowError):
        raise ValueError(f"{option}{text} is not a duration: use e.g. 10m, 1h30m") from None
    if window > MAX_WINDOW:
        raise ValueError(f"{option}{text} is too long: at most {format_duration(MAX_WINDOW)}")
    return window


def apply_overrides(spec: ServiceSpec, overrides: PlanOverrides) -> ServiceSpec:
    """`spec` with the release's own steps and window, checked as ``services.yaml``'s are.

    Its ``plan()`` is then the plan the release keeps: step count and step values from the
    override steps, window length from the override window.

    Raises:
        OverrideError: steps for a strategy that has none, or values its rules refuse
            (``steps=10,50,150: istio weights must be at most 100 (got 150)``).
    """
    update: dict[str, object] = {}
    if overrides.steps is not None:
        update["strategy"] = _with_steps(spec, overrides.steps)
    if overrides.window is not None:
        update["observation"] = _with_window(spec.observation, overrides.window)
    return spec.model_copy(update=update) if update else spec


def release_spec(spec: ServiceSpec, plan: Plan) -> ServiceSpec:
    """`spec` as a release started under `plan` acts on it: with the step values it copied.

    The rest of what a release keeps (window, gate, deadlines) is read from its plan directly.
    A release stored before plans copied step values has none, and uses ``services.yaml``'s.
    """
    strategy = spec.strategy
    if not plan.step_values or not isinstance(strategy, SteppedSpec):
        return spec
    if strategy.steps == plan.step_values:
        return spec
    # No validation here: the values were checked when the release started.
    return spec.model_copy(
        update={"strategy": strategy.model_copy(update={"steps": plan.step_values})}
    )


def _with_steps(spec: ServiceSpec, steps: tuple[int, ...]) -> SteppedSpec:
    strategy = spec.strategy
    asked = f"steps={format_steps(steps)}"
    if not isinstance(strategy, SteppedSpec):
        raise OverrideError(
            f"{asked}: {spec.name} is released by {strategy.kind.value}, which has no steps; "
            "start it without steps="
        )
    try:
        # The strategy's own model holds the values to the rules services.yaml's are held to.
        return type(strategy).model_validate({**strategy.model_dump(), "steps": steps})
    except ValidationError as err:
        problem = describe_error(err.errors()[0])
        raise OverrideError(f"{asked}: {_STEP_VALUES[strategy.kind]} {problem}") from None


def _with_window(observation: Observation, window: timedelta) -> Observation:
    try:
        return Observation.model_validate({**observation.model_dump(), "window": window})
    except ValidationError as err:
        problem = describe_error(err.errors()[0])
        raise OverrideError(f"window={_shown_window(window)}: {problem}") from None


def _shown_window(window: timedelta) -> str:
    # format_duration has no form for a negative duration.
    return format_duration(window) if window >= timedelta(0) else f"-{format_duration(-window)}"
