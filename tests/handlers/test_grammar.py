"""The `/canary` grammar: every command parses, every mistake gets one clear sentence and the
right form, and no text whatever makes it raise."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.moments import parse_moment
from bot.strategy_specs import StrategyKind
from handlers.commands import (
    Abort,
    Command,
    CommandError,
    FreezeReleases,
    Help,
    History,
    ListReleases,
    Pause,
    Promote,
    RecordCandidate,
    Resume,
    ScheduleRelease,
    Start,
    Status,
    Undo,
    UnfreezeReleases,
)
from handlers.grammar import (
    MAX_TEXT,
    format_command,
    help_text,
    parse_command,
    usage,
)

SERVICES = ("fop-gate", "fop-api", "billing", "search")
IMAGE = "reg/fop-gate:2026-11-22"
START = "`/canary SERVICE start image=IMG [strategy=KIND] [steps=10,50,100] [window=10m] [force]`"
START_USAGE = f"{START} — start a canary release of IMG"
UNDO_USAGE = "`/canary SERVICE undo [REVISION]` — roll back to the version before, or to REVISION"
PROMOTE_USAGE = "`/canary SERVICE promote [force]` — give the new version all traffic now"
STATUS_USAGE = "`/canary SERVICE status` — where the release stands"
HELP_USAGE = "`/canary help [COMMAND]` — this help, or one command's"
CANDIDATE_USAGE = (
    "`/canary SERVICE candidate image=IMG` — record IMG as a release candidate for the nightly "
    "release"
)
SCHEDULE_USAGE = "`/canary SERVICE schedule WHEN image=IMG` — start a release of IMG later, at WHEN"
FREEZE_USAGE = (
    "`/canary freeze [SERVICE] until WHEN [reason TEXT…]` — hold releases of SERVICE (or of "
    "every service) until WHEN"
)
UNFREEZE_USAGE = "`/canary unfreeze [SERVICE]` — lift the freeze of SERVICE (or of every service)"
MOMENT_FORMS = "use e.g. 02:00, mon 06:00, tomorrow 09:00, 2h or 2026-11-23T06:00"
ACTIONS = (
    "start",
    "status",
    "pause",
    "resume",
    "promote",
    "undo",
    "abort",
    "history",
    "candidate",
    "schedule",
)


def parse(text: str) -> Command | CommandError:
    return parse_command(text, services=SERVICES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            f"fop-gate start image={IMAGE}",
            Start(service="fop-gate", image=IMAGE),
            id="start-with-image-only",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} strategy=istio steps=10,50,100 window=1h30m",
            Start(
                service="fop-gate",
                image=IMAGE,
                strategy=StrategyKind.ISTIO,
                steps=(10, 50, 100),
                window=timedelta(hours=1, minutes=30),
            ),
            id="start-with-every-option",
        ),
        pytest.param(
            f"fop-gate start window=10m steps=1,3 strategy=canary-deployment image={IMAGE}",
            Start(
                service="fop-gate",
                image=IMAGE,
                strategy=StrategyKind.CANARY_DEPLOYMENT,
                steps=(1, 3),
                window=timedelta(minutes=10),
            ),
            id="start-options-in-any-order",
        ),
        pytest.param(
            f"Fop-Gate START Image={IMAGE} STRATEGY=Blue-Green",
            Start(service="fop-gate", image=IMAGE, strategy=StrategyKind.BLUE_GREEN),
            id="start-case-insensitive-but-image",
        ),
        pytest.param(
            "fop-gate start image=<http://reg.example.com/app:1.2|reg.example.com/app:1.2>",
            Start(service="fop-gate", image="reg.example.com/app:1.2"),
            id="slack-autolink-in-image-unwrapped-to-label",
        ),
        pytest.param(
            "fop-gate start image=<http://reg.example.com/app:1.2|reg.example.com/app:1.2>"
            " steps=10,50",
            Start(service="fop-gate", image="reg.example.com/app:1.2", steps=(10, 50)),
            id="slack-autolink-followed-by-options",
        ),
        pytest.param(
            f"fop-gate start image=“{IMAGE}” window='5m'",
            Start(service="fop-gate", image=IMAGE, window=timedelta(minutes=5)),
            id="smart-and-plain-quotes-around-values",
        ),
        pytest.param(
            f"fop-gate start `image={IMAGE}`",
            Start(service="fop-gate", image=IMAGE),
            id="backticks-around-an-option",
        ),
        pytest.param(
            f"  fop-gate\u00a0start\timage={IMAGE}  steps=10, 50 ,100\n",
            Start(service="fop-gate", image=IMAGE, steps=(10, 50, 100)),
            id="odd-whitespace-and-spaced-commas",
        ),
        pytest.param("fop-gate status", Status(service="fop-gate"), id="status"),
        pytest.param("fop-gate", Status(service="fop-gate"), id="bare-service-is-status"),
        pytest.param("fop-gate pause", Pause(service="fop-gate"), id="pause"),
        pytest.param("fop-gate resume", Resume(service="fop-gate"), id="resume"),
        pytest.param("billing Promote", Promote(service="billing"), id="promote"),
        pytest.param("fop-gate undo", Undo(service="fop-gate"), id="undo"),
        pytest.param(
            "fop-gate undo 3", Undo(service="fop-gate", revision=3), id="undo-to-revision"
        ),
        pytest.param("fop-gate abort", Abort(service="fop-gate"), id="abort"),
        pytest.param("fop-gate history", History(service="fop-gate"), id="history"),
        pytest.param("list", ListReleases(), id="list"),
        pytest.param("LIST", ListReleases(), id="list-upper-case"),
        pytest.param("help", Help(), id="help"),
        pytest.param("help Undo", Help(topic="undo"), id="help-on-a-command"),
        pytest.param("", Help(), id="empty-text-is-help"),
        pytest.param(
            f"fop-gate start image={IMAGE} force",
            Start(service="fop-gate", image=IMAGE, force=True),
            id="start-forced",
        ),
        pytest.param(
            f"fop-gate start FORCE image={IMAGE}",
            Start(service="fop-gate", image=IMAGE, force=True),
            id="start-force-anywhere-any-case",
        ),
        pytest.param(
            "fop-gate promote force", Promote(service="fop-gate", force=True), id="promote-forced"
        ),
        pytest.param(
            f"fop-gate candidate image={IMAGE}",
            RecordCandidate(service="fop-gate", image=IMAGE),
            id="candidate",
        ),
        pytest.param(
            f"fop-gate schedule 02:00 image={IMAGE}",
            ScheduleRelease(service="fop-gate", at=parse_moment("02:00"), image=IMAGE),
            id="schedule-at-a-time-of-day",
        ),
        pytest.param(
            f"fop-gate schedule tomorrow 2:00 image={IMAGE}",
            ScheduleRelease(service="fop-gate", at=parse_moment("tomorrow 02:00"), image=IMAGE),
            id="schedule-a-day-and-time",
        ),
        pytest.param(
            f"fop-gate schedule image={IMAGE} 2026-11-23T02:00+01:00",
            ScheduleRelease(
                service="fop-gate", at=parse_moment("2026-11-23T02:00+01:00"), image=IMAGE
            ),
            id="schedule-an-iso-date-time-after-the-image",
        ),
        pytest.param(
            "freeze fop-gate until mon 06:00 reason release freeze",
            FreezeReleases(
                service="fop-gate", until=parse_moment("mon 06:00"), reason="release freeze"
            ),
            id="freeze-a-service",
        ),
        pytest.param(
            "freeze until 2h",
            FreezeReleases(until=parse_moment("2h")),
            id="freeze-every-service-without-a-reason",
        ),
        pytest.param(
            "FREEZE Fop-Gate until=tomorrow 9:30 Reason: holiday,  no deploys",
            FreezeReleases(
                service="fop-gate",
                until=parse_moment("tomorrow 09:30"),
                reason="holiday, no deploys",
            ),
            id="freeze-key-value-habits-and-the-reason-as-typed",
        ),
        pytest.param(
            "freeze billing until 2026-11-23T06:00 reason “db &amp; cache migration”",
            FreezeReleases(
                service="billing",
                until=parse_moment("2026-11-23T06:00"),
                reason="db & cache migration",
            ),
            id="freeze-quoted-reason-with-slack-escapes",
        ),
        pytest.param("unfreeze", UnfreezeReleases(), id="unfreeze-every-service"),
        pytest.param("unfreeze Billing", UnfreezeReleases(service="billing"), id="unfreeze"),
        pytest.param(" \n\t ", Help(), id="blank-text-is-help"),
    ],
)
def test_well_formed_text_parses_to_its_command(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message", "form"),
    [
        pytest.param("fop-gate start", "start needs image=IMG", START_USAGE, id="start-no-image"),
        pytest.param(
            "fop-gate start strategy=istio",
            "start needs image=IMG",
            START_USAGE,
            id="start-options-but-no-image",
        ),
        pytest.param(
            f"fop-gate start {IMAGE}",
            f"unexpected '{IMAGE}': did you mean image={IMAGE}?",
            START_USAGE,
            id="start-image-without-key",
        ),
        pytest.param(
            "fop-gate start imgae=reg/app:1",
            "unknown option 'imgae=': did you mean image=?",
            START_USAGE,
            id="misspelt-option",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} replicas=3",
            "unknown option 'replicas=': start takes image=, strategy=, steps= or window=",
            START_USAGE,
            id="unknown-option",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} image=reg/app:2",
            "image= is given twice",
            START_USAGE,
            id="option-twice",
        ),
        pytest.param(
            "fop-gate start image=",
            "image= has no value: write image=IMG",
            START_USAGE,
            id="empty-image",
        ),
        pytest.param(
            "fop-gate start image=reg/fop-gate",
            "image 'reg/fop-gate' is not pinned: give a version tag or a digest "
            "(reg/fop-gate:2026-11-22 or reg/fop-gate@sha256:…), not latest",
            START_USAGE,
            id="unpinned-image",
        ),
        pytest.param(
            "fop-gate start image=Reg/app:1",
            "bad image reference 'Reg/app:1': repository names are lowercase",
            START_USAGE,
            id="upper-case-image",
        ),
        pytest.param(
            "fop-gate start image=<http://reg.example.com/app:1.2>",
            "bad image reference 'http://reg.example.com/app:1.2': "
            "expected e.g. reg/fop-gate:2026-11-22",
            START_USAGE,
            id="typed-url-is-not-an-image",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} strategy=canary",
            "unknown strategy 'canary': did you mean canary-deployment?",
            START_USAGE,
            id="strategy-prefix",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} strategy=bluegreen",
            "unknown strategy 'bluegreen': did you mean blue-green?",
            START_USAGE,
            id="strategy-typo",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} strategy=helm",
            "unknown strategy 'helm': use blue-green, canary-deployment, istio, "
            "paused-rollout or rolling",
            START_USAGE,
            id="strategy-unknown",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} steps=10,x",
            "steps=10,x is not a list of positive whole numbers, e.g. 10,50,100",
            START_USAGE,
            id="steps-not-numbers",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} steps=0,50",
            "steps=0,50 is not a list of positive whole numbers, e.g. 10,50,100",
            START_USAGE,
            id="steps-zero",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} steps=-10,50",
            "steps=-10,50 is not a list of positive whole numbers, e.g. 10,50,100",
            START_USAGE,
            id="steps-negative",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} steps=10%,50%",
            "steps=10%,50% is not a list of positive whole numbers, e.g. 10,50,100",
            START_USAGE,
            id="steps-percent-signs",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} steps=10,,50",
            "steps=10,,50 is not a list of positive whole numbers, e.g. 10,50,100",
            START_USAGE,
            id="steps-empty-item",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} steps=10,50,50",
            "steps=10,50,50 must increase from step to step, e.g. 10,50,100",
            START_USAGE,
            id="steps-duplicate",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} steps=50,10",
            "steps=50,10 must increase from step to step, e.g. 10,50,100",
            START_USAGE,
            id="steps-decreasing",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} steps=1,2,3,4,5,6,7,8,9,10,11",
            "steps=1,2,3,4,5,6,7,8,9,10,11 has 11 steps: at most 10 are allowed",
            START_USAGE,
            id="steps-too-many",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} window=soon",
            "window=soon is not a duration: use e.g. 10m, 1h30m",
            START_USAGE,
            id="window-not-a-duration",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} window=0s",
            "window=0s is not a duration: use e.g. 10m, 1h30m",
            START_USAGE,
            id="window-zero",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} window=99999999999999999d",
            "window=99999999999999999d is not a duration: use e.g. 10m, 1h30m",
            START_USAGE,
            id="window-beyond-timedelta",
        ),
        pytest.param(
            f"fop-gate start image={IMAGE} window=2d",
            "window=2d is too long: at most 1d",
            START_USAGE,
            id="window-too-long",
        ),
        pytest.param(
            "fop-gate promote now",
            "unexpected 'now': promote takes only force",
            PROMOTE_USAGE,
            id="promote-with-argument",
        ),
        pytest.param(
            "fop-gate promote window=5m",
            "unknown option 'window=': 'promote' takes no options",
            PROMOTE_USAGE,
            id="promote-with-option",
        ),
        pytest.param(
            "fop-gate undo x",
            "undo's revision must be a whole number above 0 (got 'x')",
            UNDO_USAGE,
            id="undo-revision-not-a-number",
        ),
        pytest.param(
            "fop-gate undo 0",
            "undo's revision must be a whole number above 0 (got '0')",
            UNDO_USAGE,
            id="undo-revision-zero",
        ),
        pytest.param(
            "fop-gate undo 3 4", "unexpected '4' after undo", UNDO_USAGE, id="undo-two-revisions"
        ),
        pytest.param(
            "fop-gate undo to=3",
            "unknown option 'to=': 'undo' takes no options",
            UNDO_USAGE,
            id="undo-with-option",
        ),
        pytest.param(
            "fop-gate strat",
            "unknown action 'strat': did you mean start or status?",
            help_text(),
            id="misspelt-action",
        ),
        pytest.param(
            "fop-gate deploy",
            "unknown action 'deploy': use start, status, pause, resume, promote, undo, abort, "
            "history, candidate or schedule",
            help_text(),
            id="unknown-action",
        ),
        pytest.param(
            "fop-gate list",
            "'list' takes no service: use `/canary list`",
            "`/canary list` — services and their live releases",
            id="list-with-service",
        ),
        pytest.param(
            "list all",
            "'list' takes no arguments",
            "`/canary list` — services and their live releases",
            id="list-with-argument",
        ),
        pytest.param(
            "help strat",
            "no help on 'strat': did you mean start or status?",
            HELP_USAGE,
            id="help-on-misspelt-command",
        ),
        pytest.param(
            "help me please",
            "no help on 'me': try start, status, pause, resume, promote, undo, abort, history, "
            "candidate, schedule, list, freeze, unfreeze or help",
            HELP_USAGE,
            id="help-on-unknown-topic",
        ),
        pytest.param(
            "lsit", "unknown command 'lsit': did you mean list?", help_text(), id="misspelt-list"
        ),
        pytest.param(
            "fop-gate promote forse",
            "unexpected 'forse': did you mean force?",
            PROMOTE_USAGE,
            id="misspelt-force",
        ),
        pytest.param(
            "fop-gate promote force force",
            "force is given twice",
            PROMOTE_USAGE,
            id="force-twice",
        ),
        pytest.param(
            "fop-gate candidate",
            "candidate needs image=IMG",
            CANDIDATE_USAGE,
            id="candidate-no-image",
        ),
        pytest.param(
            "fop-gate candidate image=reg/fop-gate:latest",
            "image 'reg/fop-gate:latest' is not pinned: give a version tag or a digest "
            "(reg/fop-gate:2026-11-22 or reg/fop-gate@sha256:…), not latest",
            CANDIDATE_USAGE,
            id="candidate-unpinned-image",
        ),
        pytest.param(
            f"fop-gate schedule image={IMAGE}",
            "schedule needs WHEN",
            SCHEDULE_USAGE,
            id="schedule-no-time",
        ),
        pytest.param(
            "fop-gate schedule 02:00",
            "schedule needs image=IMG",
            SCHEDULE_USAGE,
            id="schedule-no-image",
        ),
        pytest.param(
            f"fop-gate schedule soon image={IMAGE}",
            f"'soon' is not a time: {MOMENT_FORMS}",
            SCHEDULE_USAGE,
            id="schedule-not-a-time",
        ),
        pytest.param(
            f"fop-gate schedule 24:00 image={IMAGE}",
            f"'24:00' is not a time: {MOMENT_FORMS}",
            SCHEDULE_USAGE,
            id="schedule-no-such-hour",
        ),
        pytest.param(
            "freeze fop-gat until 2h",
            "unknown service 'fop-gat': did you mean fop-gate?",
            FREEZE_USAGE,
            id="freeze-unknown-service",
        ),
        pytest.param(
            "freeze fop-gate reason release freeze",
            "freeze needs until WHEN, e.g. "
            "`/canary freeze fop-gate until mon 06:00 reason release freeze`",
            FREEZE_USAGE,
            id="freeze-without-until",
        ),
        pytest.param(
            "freeze until reason release freeze",
            "until needs a time, e.g. "
            "`/canary freeze SERVICE until mon 06:00 reason release freeze`",
            FREEZE_USAGE,
            id="freeze-until-without-a-time",
        ),
        pytest.param(
            "freeze fop-gate until next week",
            f"until 'next week' is not a time: {MOMENT_FORMS}",
            FREEZE_USAGE,
            id="freeze-malformed-until",
        ),
        pytest.param(
            "freeze until 2026-02-30T06:00",
            f"until '2026-02-30T06:00' is not a time: {MOMENT_FORMS}",
            FREEZE_USAGE,
            id="freeze-until-no-such-date",
        ),
        pytest.param(
            "freeze until 2h reason " + "x" * 201,
            "that reason is 201 characters: a reason takes at most 200",
            FREEZE_USAGE,
            id="freeze-reason-too-long",
        ),
        pytest.param(
            "fop-gate freeze until 2h",
            "put freeze first: `/canary freeze fop-gate until 2h`",
            FREEZE_USAGE,
            id="freeze-after-the-service",
        ),
        pytest.param(
            "unfreeze fop-gat",
            "unknown service 'fop-gat': did you mean fop-gate?",
            UNFREEZE_USAGE,
            id="unfreeze-unknown-service",
        ),
        pytest.param(
            "unfreeze fop-gate now",
            "unexpected 'now' after unfreeze",
            UNFREEZE_USAGE,
            id="unfreeze-with-more",
        ),
    ],
)
def test_malformed_text_gets_what_is_wrong_and_the_right_form(
    text: str, message: str, form: str
) -> None:
    assert parse(text) == CommandError(message=message, usage=form)


@pytest.mark.parametrize(
    ("text", "message", "form"),
    [
        pytest.param(
            f"start fop-gate image={IMAGE}",
            f"put the service first: `/canary fop-gate start image={IMAGE}`",
            START_USAGE,
            id="start-then-service",
        ),
        pytest.param(
            "Promote Fop-Gate",
            "put the service first: `/canary fop-gate promote`",
            PROMOTE_USAGE,
            id="promote-then-service",
        ),
        pytest.param(
            f"start image={IMAGE}",
            f"put the service first: `/canary SERVICE start image={IMAGE}`",
            START_USAGE,
            id="no-service-at-all",
        ),
        pytest.param(
            "undo",
            "put the service first: `/canary SERVICE undo`",
            UNDO_USAGE,
            id="lone-action",
        ),
    ],
)
def test_action_before_service_is_answered_with_the_right_order(
    text: str, message: str, form: str
) -> None:
    assert parse(text) == CommandError(message=message, usage=form)


@pytest.mark.parametrize(
    ("text", "services", "message"),
    [
        pytest.param(
            "fop-gaet status",
            SERVICES,
            "unknown service 'fop-gaet': did you mean fop-gate or fop-api?",
            id="typo-suggests-closest",
        ),
        pytest.param(
            "fop-gat status",
            SERVICES,
            "unknown service 'fop-gat': did you mean fop-gate?",
            id="start-of-a-name-suggests-that-name",
        ),
        pytest.param(
            "fop status",
            ("fop-gate", "fop-api", "fop-web", "fop-db", "billing"),
            "unknown service 'fop': did you mean fop-api, fop-db or fop-gate?",
            id="prefix-suggests-up-to-three",
        ),
        pytest.param(
            "Billng status",
            SERVICES,
            "unknown service 'billng': did you mean billing?",
            id="case-folded-before-matching",
        ),
        pytest.param(
            "payments status",
            SERVICES,
            "unknown service 'payments': the services are billing, fop-api, fop-gate, search",
            id="nothing-close-few-services-named",
        ),
        pytest.param(
            "payments status",
            tuple(f"svc-{n:02}" for n in range(11)),
            "unknown service 'payments': `/canary list` shows them",
            id="nothing-close-many-services-pointed-to-list",
        ),
        pytest.param(
            "payments status",
            (),
            "unknown service 'payments': no services are configured",
            id="no-services-at-all",
        ),
        pytest.param(
            "&lt;fop-gate&gt; status",
            SERVICES,
            "unknown service '<fop-gate>': did you mean fop-gate?",
            id="slack-escapes-undone",
        ),
    ],
)
def test_unknown_service_suggests_the_closest_names(
    text: str, services: tuple[str, ...], message: str
) -> None:
    assert parse_command(text, services=services) == CommandError(
        message=message, usage=STATUS_USAGE
    )


def test_unknown_service_with_unknown_action_shows_all_commands() -> None:
    assert parse("fop-gaet deploy") == CommandError(
        message="unknown service 'fop-gaet': did you mean fop-gate or fop-api?", usage=help_text()
    )


def test_text_up_to_the_limit_is_read() -> None:
    assert parse("fop-gate status".ljust(MAX_TEXT)) == Status(service="fop-gate")


def test_text_beyond_the_limit_is_refused_unread() -> None:
    assert parse("fop-gate status".ljust(MAX_TEXT + 1)) == CommandError(
        message="that is 1,001 characters: a command has at most 1,000", usage=help_text()
    )


def test_help_lists_every_command_one_line_each() -> None:
    assert help_text() == "\n".join(
        [
            "`/canary` runs canary releases:",
            START_USAGE,
            STATUS_USAGE,
            "`/canary SERVICE pause` — hold the release where it is",
            "`/canary SERVICE resume` — let a paused release go on",
            PROMOTE_USAGE,
            UNDO_USAGE,
            "`/canary SERVICE abort` — stop the release and undo it",
            "`/canary SERVICE history` — past releases and who did what",
            CANDIDATE_USAGE,
            SCHEDULE_USAGE,
            "`/canary list` — services and their live releases",
            FREEZE_USAGE,
            UNFREEZE_USAGE,
            HELP_USAGE,
        ]
    )


def test_help_on_start_explains_its_options() -> None:
    assert help_text("start") == (
        f"{START_USAGE}\n"
        "IMG is pinned: a tag other than latest, or a digest. KIND is blue-green, "
        "canary-deployment, istio, paused-rollout or rolling. Steps are percentages or replica "
        "counts, as the strategy takes them; window is one observation window. Options left out "
        "come from the service's configuration. During a freeze only an admin may start, by "
        "adding force."
    )


def test_help_on_a_command_without_details_is_its_usage() -> None:
    assert help_text("Status") == STATUS_USAGE


def test_help_on_promote_says_force_breaks_a_freeze() -> None:
    assert help_text("promote") == (
        f"{PROMOTE_USAGE}\nDuring a freeze only an admin may promote, by adding force."
    )


@pytest.mark.parametrize("topic", ["nonsense", ""])
def test_help_and_usage_of_an_unknown_topic_fall_back_to_every_command(topic: str) -> None:
    assert help_text(topic) == help_text()
    assert usage(topic) == help_text()


@pytest.mark.parametrize(
    ("command", "text"),
    [
        pytest.param(
            Start(
                service="fop-gate",
                image=IMAGE,
                strategy=StrategyKind.ISTIO,
                steps=(10, 50, 100),
                window=timedelta(minutes=90),
            ),
            f"fop-gate start image={IMAGE} strategy=istio steps=10,50,100 window=1h30m",
            id="start-with-every-option",
        ),
        pytest.param(
            Start(service="fop-gate", image=IMAGE),
            f"fop-gate start image={IMAGE}",
            id="start-leaves-out-unset-options",
        ),
        pytest.param(Undo(service="billing", revision=4), "billing undo 4", id="undo-revision"),
        pytest.param(Undo(service="billing"), "billing undo", id="undo"),
        pytest.param(ListReleases(), "list", id="list"),
        pytest.param(Help(topic="start"), "help start", id="help-topic"),
        pytest.param(
            Promote(service="billing", force=True), "billing promote force", id="promote-forced"
        ),
        pytest.param(
            ScheduleRelease(service="billing", at=parse_moment("Mon 2:00"), image=IMAGE),
            f"billing schedule mon 02:00 image={IMAGE}",
            id="schedule",
        ),
        pytest.param(
            FreezeReleases(until=parse_moment("90m"), reason="release freeze"),
            "freeze until 1h30m reason release freeze",
            id="freeze-every-service",
        ),
        pytest.param(UnfreezeReleases(service="billing"), "unfreeze billing", id="unfreeze"),
    ],
)
def test_format_command_writes_the_canonical_text(command: Command, text: str) -> None:
    assert format_command(command) == text


# --- properties -----------------------------------------------------------------------------

services = st.sampled_from(SERVICES)
images = st.sampled_from(
    [IMAGE, "reg.example.com/app:1.2", "localhost:5000/team/app@sha256:" + "a" * 64, "app:v1"]
)
windows = st.integers(1, 86_400).map(lambda seconds: timedelta(seconds=seconds))
moments = st.sampled_from(
    ["02:00", "mon 06:00", "tomorrow 9:30", "today", "2h", "1d12h", "2026-11-23",
     "2026-11-23T06:00", "2026-11-23T06:00:30+01:00", "2026-11-23T06:00Z"]
).map(parse_moment)  # fmt: skip
step_plans = st.lists(st.integers(1, 10_000), min_size=1, max_size=10, unique=True).map(
    lambda steps: tuple(sorted(steps))
)
commands: st.SearchStrategy[Command] = st.one_of(
    st.builds(
        Start,
        service=services,
        image=images,
        strategy=st.none() | st.sampled_from(StrategyKind),
        steps=st.none() | step_plans,
        window=st.none() | windows,
        force=st.booleans(),
    ),
    *(st.builds(kind, service=services) for kind in (Status, Pause, Resume, Abort)),
    st.builds(Promote, service=services, force=st.booleans()),
    st.builds(History, service=services),
    st.builds(RecordCandidate, service=services, image=images),
    st.builds(ScheduleRelease, service=services, at=moments, image=images),
    st.builds(
        FreezeReleases,
        service=st.none() | services,
        until=moments,
        reason=st.sampled_from(["", "release freeze", "holiday, no deploys", "db & cache 2/3"]),
    ),
    st.builds(UnfreezeReleases, service=st.none() | services),
    st.builds(Undo, service=services, revision=st.none() | st.integers(1, 10**6)),
    st.just(ListReleases()),
    st.builds(
        Help, topic=st.none() | st.sampled_from([*ACTIONS, "list", "freeze", "unfreeze", "help"])
    ),
)

# Text that looks like commands: the words the grammar knows, near misses and junk, so the
# search reaches deep into option parsing rather than stopping at "unknown service".
option_values = st.one_of(
    st.sampled_from([IMAGE, "10,50,100", "10m", "istio", "0", "-1", "1h30m", "x", ""]),
    st.text(max_size=12),
)
option_words = st.builds(
    "{}={}".format,
    st.sampled_from(["image", "IMAGE", "strategy", "steps", "window", "imgae", "", "to"]),
    option_values,
)
known_words = st.sampled_from(
    [
        *SERVICES,
        *ACTIONS,
        "list",
        "help",
        "HELP",
        "force",
        "freeze",
        "unfreeze",
        "until",
        "reason",
        "02:00",
        "mon",
        "Start",
        "fop-gat",
        "strat",
        "3",
        "0",
        "<http://reg.example.com/app:1.2|reg.example.com/app:1.2>",
        "<mailto:a@b.c>",
        "“",
        "`",
        "&lt;",
        "&amp;",
        ",",
        "<",
        "|",
    ]
)
words = st.one_of(known_words, option_words, st.text(max_size=10))
separators = st.sampled_from([" ", "  ", "\t", "\u00a0", "\n", ", ", "=", ""])
plausible_texts = st.lists(st.tuples(words, separators), max_size=8).map(
    lambda pairs: "".join(word + separator for word, separator in pairs)
)


def assert_answered(result: Command | CommandError) -> None:
    if isinstance(result, CommandError):
        assert result.message.strip()
        assert result.usage.strip()
    else:
        assert isinstance(
            result,
            Start
            | Status
            | Pause
            | Resume
            | Promote
            | Undo
            | Abort
            | History
            | RecordCandidate
            | ScheduleRelease
            | FreezeReleases
            | UnfreezeReleases
            | ListReleases
            | Help,
        )


@given(text=st.text(max_size=MAX_TEXT + 20))
def test_any_text_gets_a_command_or_an_error_never_an_exception(text: str) -> None:
    assert_answered(parse(text))


@settings(max_examples=500)
@given(text=plausible_texts)
def test_command_like_text_gets_a_command_or_an_error_never_an_exception(text: str) -> None:
    assert_answered(parse(text))


@given(command=commands)
def test_formatted_command_parses_back_to_itself(command: Command) -> None:
    assert parse(format_command(command)) == command


@given(command=commands, gap=st.sampled_from(["  ", "\t", "\u00a0", "\n", " \u2003 "]))
def test_any_whitespace_between_words_reads_the_same(command: Command, gap: str) -> None:
    assert parse(gap.join(["", *format_command(command).split(" "), ""])) == command
