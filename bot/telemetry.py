"""The bot's own Prometheus metrics: what it did, how fast, and what failed around it.

One registry of the bot's (not prometheus_client's global default, so that tests and anything
else in the process keep their own), the instruments in it, and one small function to record
each kind of event, called where the event happens: the front door's listeners, the engine's
committed transitions, the scheduler's window jobs, and the Slack and Kubernetes boundaries.
:func:`exposition` is what ``GET /metrics`` serves (:mod:`bot.health`).

Each process counts what happens in it: with ``CANARYBOT_WORK_MODE=process`` the front door's
``/metrics`` has the commands, clicks and acks, and the worker's (on ``CANARYBOT_HEALTH_PORT``)
the releases, windows and API errors.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from bot.analysis import Verdict
from bot.release import Phase, Release
from k8s.errors import UnavailableError

REGISTRY = CollectorRegistry(auto_describe=True)

# Every label value is known up front, so each series exists (at 0) from the start and a
# rate() over it never begins with a gap.
REQUEST_OUTCOMES = {
    "command": ("queued", "invalid", "help", "unavailable"),
    "click": ("queued", "unavailable"),
}
FINAL_STATES = ("promoted", "undone", "failed", "aborted")
ABORTED_REASON = "aborted"  # the reason the front doors give the undo of `/canary … abort`

SLACK_REQUESTS = Counter(
    "canarybot_slack_requests",
    "Slash commands and button clicks the front door answered, by kind and outcome.",
    ["kind", "outcome"],
    registry=REGISTRY,
)
ACK_LATENCY = Histogram(
    "canarybot_ack_latency_seconds",
    "Seconds from a Slack request reaching the bot's listeners to its acknowledgement.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0),
    registry=REGISTRY,
)
RELEASES = Counter(
    "canarybot_releases_finished",
    "Releases that reached a final state: promoted, undone, failed, or undone by an abort.",
    ["state"],
    registry=REGISTRY,
)
WINDOW_VERDICTS = Counter(
    "canarybot_window_verdicts",
    "Observation windows judged (verdicts committed), by verdict.",
    ["verdict"],
    registry=REGISTRY,
)
WAKE_LATENESS = Histogram(
    "canarybot_window_wake_lateness_seconds",
    "Seconds between an observation window's end and the start of its judgment.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
    registry=REGISTRY,
)
SLACK_API_ERRORS = Counter(
    "canarybot_slack_api_errors",
    "Slack Web API calls that failed, by method and Slack's error (or 'connection').",
    ["method", "error"],
    registry=REGISTRY,
)
KUBERNETES_API_ERRORS = Counter(
    "canarybot_kubernetes_api_errors",
    "Kubernetes API calls that failed a release's step, by HTTP status (or 'unreachable').",
    ["status"],
    registry=REGISTRY,
)


# The request counters' children, looked up once: labels() takes a lock on every call.
_REQUESTS = {
    (kind, outcome): SLACK_REQUESTS.labels(kind, outcome)
    for kind, outcomes in REQUEST_OUTCOMES.items()
    for outcome in outcomes
}


def _expose_every_label() -> None:
    for state in FINAL_STATES:
        RELEASES.labels(state)
    for verdict in Verdict:
        WINDOW_VERDICTS.labels(verdict.name)


_expose_every_label()


def request_answered(kind: str, outcome: str, *, seconds: float | None = None) -> None:
    """A command or click (`kind`) was acknowledged with `outcome`, `seconds` after arriving."""
    counter = _REQUESTS.get((kind, outcome))
    (counter or SLACK_REQUESTS.labels(kind, outcome)).inc()
    if seconds is not None:
        ACK_LATENCY.observe(max(0.0, seconds))


def final_state(first: Release, last: Release) -> str | None:
    """The final state a run of committed transitions from `first` to `last` reached, if any.

    An undo that an abort asked for ends "aborted". Purely computational, no side effects.
    """
    if last.phase is Phase.PROMOTED:
        return "promoted"
    if last.phase is Phase.FAILED:
        return "failed"
    if last.phase is Phase.UNDONE:
        aborted = first.phase in (Phase.UNDOING, Phase.UNDONE) and first.reason == ABORTED_REASON
        return "aborted" if aborted else "undone"
    return None


def release_moved(first: Release, last: Release) -> None:
    """The engine committed transitions from `first` to `last`: count a final state reached."""
    state = final_state(first, last)
    if state is not None:
        RELEASES.labels(state).inc()


def window_judged(verdict: Verdict) -> None:
    """A window's verdict was committed."""
    WINDOW_VERDICTS.labels(verdict.name).inc()


def window_woke(late_s: float) -> None:
    """A window's judgment started `late_s` seconds after the window's end."""
    WAKE_LATENESS.observe(max(0.0, late_s))


def slack_api_failed(method: str, error: str) -> None:
    """A Slack Web API call (`chat.postMessage` …) failed with `error`."""
    SLACK_API_ERRORS.labels(method, error).inc()


def cluster_failed(err: BaseException) -> None:
    """A cluster error reached the engine: counted when the Kubernetes API failed (an error
    status, or no answer), not when the cluster answered and the rollout itself went wrong."""
    status = api_status(err)
    if status is not None:
        KUBERNETES_API_ERRORS.labels(status).inc()


def api_status(err: BaseException) -> str | None:
    """The HTTP status the Kubernetes API answered `err` with ("unreachable": none), if it was
    an API failure at all.

    k8s/ chains the client's ApiException (which has an int ``status``) to its own errors.
    Purely computational, no side effects.
    """
    unreachable = False
    seen: BaseException | None = err
    while seen is not None:
        status = getattr(seen, "status", None)
        if isinstance(status, int):
            return str(status)
        unreachable = unreachable or isinstance(seen, UnavailableError)
        seen = seen.__cause__
    return "unreachable" if unreachable else None


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus's text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
