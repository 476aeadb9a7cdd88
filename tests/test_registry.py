"""The service registry: services.yaml read into specs, or every problem as one line each."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.registry import Registry, RegistryError, UnknownService, load_registry, parse_registry
from bot.release import DeadlineAction, FailPolicy, Gate, Plan
from bot.service_spec import TrackSelector, fill_query
from bot.strategy_specs import (
    BlueGreenSpec,
    CanaryDeploymentSpec,
    IstioSpec,
    PausedRolloutSpec,
    RollingSpec,
    StrategyKind,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "deploy" / "services.example.yaml"
THREE_PROBLEMS = ROOT / "tests" / "data" / "three_problems.yaml"

# Just enough around a strategy for a service to be valid.
PREAMBLE = """\
defaults:
  channel: "#releases"
  approval: {approvers: [U012ABCDEF]}
services:
"""


def parse(text: str, *, default_window: timedelta | None = None) -> Registry:
    """Parse a services file written indented in a test."""
    return parse_registry(textwrap.dedent(text), "services.yaml", default_window=default_window)


def problems_of(text: str) -> list[str]:
    """The problem lines of a services file that must not load."""
    with pytest.raises(RegistryError) as caught:
        parse(text)
    lines = [str(problem) for problem in caught.value.problems]
    assert str(caught.value) == "\n".join(lines)
    return lines


def service(body: str) -> str:
    """A file with the preamble and one service ``svc`` of this (indented) body."""
    return PREAMBLE + "  svc:\n" + textwrap.indent(textwrap.dedent(body), "    ")


# --- the example file ------------------------------------------------------------------


def test_the_example_file_loads_with_one_service_per_strategy() -> None:
    registry = load_registry(EXAMPLE)
    kinds = {registry.get(name).strategy.kind for name in registry}
    assert kinds == set(StrategyKind)
    assert len(registry) == 6


def test_the_example_fop_gate_is_seed_000() -> None:
    spec = load_registry(EXAMPLE).get("fop-gate")
    assert isinstance(spec.strategy, CanaryDeploymentSpec)
    assert spec.strategy.deployment == "fop-gate"
    assert spec.strategy.steps == (1,)
    assert spec.strategy.step_count == 1
    assert spec.nightly is not None
    assert spec.nightly.cron == "0 2 * * *"


def test_the_example_istio_service_steps_through_10_50_100() -> None:
    spec = load_registry(EXAMPLE).get("myapp")
    assert isinstance(spec.strategy, IstioSpec)
    assert spec.strategy.steps == (10, 50, 100)
    assert spec.strategy.step_count == 3
    assert spec.approval.gate is Gate.EVERY_STEP


# --- defaults --------------------------------------------------------------------------


def test_defaults_fill_in_what_a_service_leaves_out() -> None:
    spec = parse(
        """
        defaults:
          namespace: shop
          channel: "#releases"
          observation: {window: 5m, windows_per_step: 2}
          approval: {approvers: [U012ABCDEF], deadline: 1h}
        services:
          checkout:
            strategy: {kind: rolling, deployment: checkout}
        """
    ).get("checkout")
    assert spec.namespace == "shop"
    assert spec.channel == "#releases"
    assert spec.observation.window == timedelta(minutes=5)
    assert spec.observation.windows_per_step == 2
    assert spec.approval.deadline == timedelta(hours=1)


def test_service_values_win_and_nested_blocks_merge_key_by_key() -> None:
    spec = parse(
        """
        defaults:
          channel: "#releases"
          observation: {window: 5m, windows_per_step: 2}
          approval: {approvers: [U012ABCDEF], approver_groups: [S0123ONCALL]}
        services:
          checkout:
            channel: C0123456789
            strategy: {kind: rolling, deployment: checkout}
            observation: {window: 15m}
            approval: {approvers: [U0999ZZZZZ]}
        """
    ).get("checkout")
    assert spec.channel == "C0123456789"
    assert spec.observation.window == timedelta(minutes=15)
    assert spec.observation.windows_per_step == 2  # kept from defaults
    assert spec.approval.approvers == ("U0999ZZZZZ",)  # a list is replaced, not appended
    assert spec.approval.approver_groups == ("S0123ONCALL",)


def test_the_bots_default_window_applies_when_the_file_names_none() -> None:
    text = service("strategy: {kind: rolling, deployment: svc}\n")
    registry = parse(text, default_window=timedelta(minutes=3))
    assert registry.get("svc").observation.window == timedelta(minutes=3)


def test_a_window_in_the_file_beats_the_bots_default() -> None:
    text = service("strategy: {kind: rolling, deployment: svc}\nobservation: {window: 7m}\n")
    registry = parse(text, default_window=timedelta(minutes=3))
    assert registry.get("svc").observation.window == timedelta(minutes=7)


# --- strategies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "model", "step_count"),
    [
        pytest.param("{kind: canary-deployment, deployment: web, service: web}",
                     CanaryDeploymentSpec, 1, id="canary-deployment-defaults"),
        pytest.param("{kind: canary-deployment, deployment: web, service: web, steps: [1, 2, 4]}",
                     CanaryDeploymentSpec, 3, id="canary-deployment-steps"),
        pytest.param("{kind: paused-rollout, deployment: web, preview_service: web-preview}",
                     PausedRolloutSpec, 1, id="paused-rollout"),
        pytest.param("{kind: blue-green, deployment: web, service: web, grace_period: 1h}",
                     BlueGreenSpec, 1, id="blue-green"),
        pytest.param("{kind: istio, deployment: web, host: web, virtual_service: web,"
                     " destination_rule: web}", IstioSpec, 3, id="istio-default-weights"),
        pytest.param("{kind: istio, deployment: web, host: web.shop.svc.cluster.local,"
                     " virtual_service: web, destination_rule: web, steps: [100],"
                     " match: {cookie: user, value: '^(beta|staff)$'}}",
                     IstioSpec, 1, id="istio-cookie-ab"),
        pytest.param("{kind: rolling, deployment: web, max_surge: 1, max_unavailable: '10%'}",
                     RollingSpec, 1, id="rolling"),
    ],
)  # fmt: skip
def test_each_strategy_validates_and_counts_its_steps(
    strategy: str, model: type, step_count: int
) -> None:
    spec = parse(service(f"strategy: {strategy}\n")).get("svc")
    assert isinstance(spec.strategy, model)
    assert spec.strategy.step_count == step_count


def test_strategy_defaults_match_the_seeds() -> None:
    canary = CanaryDeploymentSpec(deployment="fop-gate", service="fop-gate")
    assert (canary.steps, canary.track_label, canary.container) == ((1,), "track", None)
    istio = IstioSpec(deployment="myapp", host="myapp-svc", virtual_service="myapp-vs",
                          destination_rule="myapp-dr")  # fmt: skip
    assert (istio.steps, istio.version_label) == ((10, 50, 100), "version")
    rolling = RollingSpec(deployment="testpage")
    assert (rolling.max_surge, rolling.max_unavailable) == ("25%", 0)
    assert rolling.progress_deadline == timedelta(minutes=10)
    blue_green = BlueGreenSpec(deployment="hexo", service="hexo")
    assert blue_green.grace_period == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        pytest.param("{kind: canery, deployment: web}",
                     "svc.strategy.kind: unknown strategy 'canery' (expected one of: blue-green,"
                     " canary-deployment, istio, paused-rollout, rolling)", id="unknown-kind"),
        pytest.param("{deployment: web}",
                     "svc.strategy.kind: required (one of: blue-green, canary-deployment, istio,"
                     " paused-rollout, rolling)", id="no-kind"),
        pytest.param("{kind: paused-rollout}", "svc.strategy.deployment: required",
                     id="no-deployment"),
        pytest.param("{kind: null, deployment: web}",
                     "svc.strategy.kind: required (one of: blue-green, canary-deployment, istio,"
                     " paused-rollout, rolling)", id="null-kind"),
        pytest.param("{kind: rolling, deployment: null}",
                     "svc.strategy.deployment: expected a string (got nothing)",
                     id="null-deployment"),
        pytest.param("{kind: rolling, deployment: Web_1}",
                     "svc.strategy.deployment: bad name 'Web_1': use lowercase letters, digits,"
                     " '-' and '.', each part starting and ending with a letter or digit",
                     id="deployment-not-dns"),
        pytest.param("{kind: canary-deployment, deployment: web}",
                     "svc.strategy.service: required", id="canary-needs-service"),
        pytest.param("{kind: canary-deployment, deployment: web, service: web, steps: [2, 1]}",
                     "svc.strategy.steps: must be strictly increasing (got [2, 1])",
                     id="steps-decreasing"),
        pytest.param("{kind: paused-rollout, deployment: web, steps: []}",
                     "svc.strategy.steps: must not be empty", id="steps-empty"),
        pytest.param("{kind: paused-rollout, deployment: web, steps: [0]}",
                     "svc.strategy.steps[0]: must be greater than 0 (got 0)", id="steps-zero"),
        pytest.param("{kind: canary-deployment, deployment: web, service: web, track_label: 'a b'}",
                     "svc.strategy.track_label: bad label key 'a b': use a Kubernetes label key"
                     " such as 'track'", id="bad-label-key"),
        pytest.param("{kind: blue-green, deployment: web, service: web, grace_period: soon}",
                     "svc.strategy.grace_period: bad duration 'soon': use forms like 30s, 10m,"
                     " 1h30m", id="blue-green-grace"),
        pytest.param("{kind: istio, deployment: web, host: web, virtual_service: web,"
                     " destination_rule: web, steps: [10, 150]}",
                     "svc.strategy.steps[1]: must be at most 100 (got 150)", id="istio-over-100"),
        pytest.param("{kind: istio, deployment: web, host: web, virtual_service: web,"
                     " destination_rule: web, match: {header: x-beta, cookie: beta, value: y}}",
                     "svc.strategy.match: give exactly one of header or cookie",
                     id="istio-header-and-cookie"),
        pytest.param("{kind: istio, deployment: web, host: web, virtual_service: web,"
                     " destination_rule: web, match: {value: y}}",
                     "svc.strategy.match: give exactly one of header or cookie",
                     id="istio-match-neither"),
        pytest.param("{kind: istio, deployment: web, host: web, virtual_service: web,"
                     " destination_rule: web, match: {cookie: user, value: '('}}",
                     "svc.strategy.match: bad regular expression '(': missing ), unterminated"
                     " subpattern at position 0", id="istio-cookie-regex"),
        pytest.param("{kind: istio, deployment: web, host: web, virtual_service: web,"
                     " destination_rule: web, match: {header: X-Beta, value: y}}",
                     "svc.strategy.match: bad header 'X-Beta': Istio wants lowercase,"
                     " '-' separated", id="istio-header-case"),
        pytest.param("{kind: rolling, deployment: web, max_surge: lots}",
                     "svc.strategy.max_surge: expected a whole number of pods or a percentage"
                     " like '25%' (got 'lots')", id="rolling-surge"),
        pytest.param("{kind: rolling, deployment: web, max_surge: 0, max_unavailable: '0%'}",
                     "svc.strategy: max_surge and max_unavailable cannot both be 0",
                     id="rolling-stuck"),
        pytest.param("{kind: rolling, deployment: web, steps: [1]}",
                     "svc.strategy.steps: unknown field", id="rolling-has-no-steps"),
    ],
)  # fmt: skip
def test_each_strategy_reports_its_mistakes(strategy: str, expected: str) -> None:
    assert problems_of(service(f"strategy: {strategy}\n")) == [f"services.yaml: {expected}"]


def test_every_missing_istio_object_is_named() -> None:
    assert problems_of(service("strategy: {kind: istio, deployment: web}\n")) == [
        "services.yaml: svc.strategy.host: required",
        "services.yaml: svc.strategy.virtual_service: required",
        "services.yaml: svc.strategy.destination_rule: required",
    ]


# --- the acceptance case ---------------------------------------------------------------


def test_three_broken_services_give_exactly_three_lines() -> None:
    with pytest.raises(RegistryError) as caught:
        load_registry(THREE_PROBLEMS)
    source = str(THREE_PROBLEMS)
    assert [str(problem) for problem in caught.value.problems] == [
        f"{source}: fop-gate.strategy.kind: unknown strategy 'canery' (expected one of:"
        " blue-green, canary-deployment, istio, paused-rollout, rolling)",
        f"{source}: img-thumbnail.strategy.deployment: required",
        f"{source}: hexo-blog.nightly.cron: bad cron line '61 2 * * *': Error validating"
        " expression '61': the last value (61) is higher than the maximum value (59)",
    ]


# --- other service fields ----------------------------------------------------------------

RUNNABLE = "strategy: {kind: rolling, deployment: svc}\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("channel: #releases\n",
                     "svc.channel: empty: quote it, since an unquoted '#name' is a YAML comment",
                     id="unquoted-channel"),
        pytest.param("channel: releases\n",
                     "svc.channel: bad channel 'releases': expected a channel id (C…) or #name",
                     id="channel-without-hash"),
        pytest.param("approval: {approvers: []}\n",
                     "svc.approval: name at least one of approvers or approver_groups",
                     id="nobody-can-approve"),
        pytest.param("approval: {approvers: [bob]}\n",
                     "svc.approval.approvers[0]: bad Slack user id 'bob': expected U… or W…",
                     id="approver-not-an-id"),
        pytest.param("approval: {approvers: [U012ABCDEF], gate: sometimes}\n",
                     "svc.approval.gate: expected one of: final, every-step, none"
                     " (got 'sometimes')",
                     id="unknown-gate"),
        pytest.param("approval: {approvers: [U012ABCDEF], deadline: 0s}\n",
                     "svc.approval.deadline: bad duration '0s': must be positive",
                     id="zero-deadline"),
        pytest.param("nightly: {cron: '0 2 * *'}\n",
                     "svc.nightly.cron: bad cron line '0 2 * *': Wrong number of fields;"
                     " got 4, expected 5", id="cron-four-fields"),
        pytest.param("nightly: {cron: '0 2 * * *', timezone: Mars/Olympus}\n",
                     "svc.nightly.timezone: unknown time zone 'Mars/Olympus'",
                     id="unknown-timezone"),
        pytest.param("nightly: {cron: '0 2 * * *', timezone: Europe}\n",
                     "svc.nightly.timezone: unknown time zone 'Europe'", id="timezone-folder"),
        pytest.param("metrics: {queries: {requests: 'sum(rate(x{job=\"{srvice}\"}[5m]))'}}\n",
                     "svc.metrics.queries.requests: unknown placeholder {srvice}"
                     " (use {namespace}, {service}, {track}, {window})", id="bad-placeholder"),
        pytest.param("metrics: {queries: {rps: x}}\n",
                     "svc.metrics.queries.rps: unknown field", id="unknown-query-name"),
        pytest.param("metrics: {preset: datadog}\n",
                     "svc.metrics.preset: expected one of: generic, istio, nginx (got 'datadog')",
                     id="unknown-preset"),
        pytest.param("metrics: {preset: istio, track_selector: pod-template-hash}\n",
                     "svc.metrics: the istio preset tells tracks apart by destination_version:"
                     " use track_selector: label", id="istio-by-hash"),
        pytest.param("metrics: {dashboard_url: grafana}\n",
                     "svc.metrics.dashboard_url: bad URL 'grafana': expected http://… or"
                     " https://…", id="dashboard-not-a-url"),
        pytest.param("analysis: {max_error_ratio: 2}\n",
                     "svc.analysis.max_error_ratio: must be at most 1 (got 2)", id="ratio-over-1"),
        pytest.param("analysis: {confidence: 0.5}\n",
                     "svc.analysis.confidence: must be greater than 0.5 (got 0.5)",
                     id="confidence-too-low"),
        pytest.param("analysis: {min_requests: many}\n",
                     "svc.analysis.min_requests: expected a whole number (got 'many')",
                     id="min-requests-not-int"),
        pytest.param("observation: {windows_per_step: 0}\n",
                     "svc.observation.windows_per_step: must be at least 1 (got 0)",
                     id="no-windows"),
        pytest.param("on_fail: retry\n",
                     "svc.on_fail: expected one of: undo, ask (got 'retry')", id="on-fail"),
        pytest.param("namespace: Prod\n",
                     "svc.namespace: bad name 'Prod': use lowercase letters, digits and '-',"
                     " starting and ending with a letter or digit, at most 63 characters",
                     id="namespace-not-dns"),
        pytest.param("chanel: '#x'\n", "svc.chanel: unknown field", id="typo-field"),
        pytest.param("freezes: [{cron: '0 18 * *', duration: 1h}]\n",
                     "svc.freezes[0].cron: bad cron line '0 18 * *': Wrong number of fields;"
                     " got 4, expected 5", id="freeze-cron-four-fields"),
        pytest.param("freezes: [{cron: '0 18 * * fri', duration: 1h, timezone: Europe/Berln}]\n",
                     "svc.freezes[0].timezone: unknown time zone 'Europe/Berln'",
                     id="freeze-unknown-timezone"),
        pytest.param("freezes: [{cron: '0 18 * * fri', duration: 0s}]\n",
                     "svc.freezes[0].duration: bad duration '0s': must be positive",
                     id="freeze-zero-duration"),
        pytest.param("name: other\n", "svc.name: unknown field: a service is named by its key",
                     id="name-field"),
    ],
)  # fmt: skip
def test_service_fields_report_their_mistakes(body: str, expected: str) -> None:
    assert problems_of(service(RUNNABLE + body)) == [f"services.yaml: {expected}"]


def test_admins_and_freeze_windows_are_read_for_every_service_and_per_service() -> None:
    registry = parse(
        """\
        admins: [U0ADMIN01, W0ADMIN02]
        freezes:
          - {cron: "0 18 * * fri", duration: 62h, timezone: Europe/Berlin, reason: weekend}
        defaults:
          channel: "#releases"
          approval: {approvers: [U012ABCDEF]}
          strategy: {kind: rolling, deployment: web}
        services:
          web:
            freezes: [{cron: "0 9 1 * *", duration: 4h}]
          api: {}
        """
    )
    assert registry.admins == frozenset({"U0ADMIN01", "W0ADMIN02"})
    [weekend] = registry.freezes
    assert (weekend.cron, weekend.duration, weekend.timezone, weekend.reason) == (
        "0 18 * * fri",
        timedelta(hours=62),
        "Europe/Berlin",
        "weekend",
    )
    [monthly] = registry.get("web").freezes
    assert (monthly.duration, monthly.timezone, monthly.reason) == (
        timedelta(hours=4),
        "UTC",
        "release freeze",
    )
    assert registry.get("api").freezes == ()


def test_a_file_without_admins_or_freezes_has_none() -> None:
    registry = parse(service(RUNNABLE))
    assert (registry.admins, registry.freezes) == (frozenset(), ())


def test_the_example_file_has_an_admin_and_a_weekend_freeze() -> None:
    registry = load_registry(EXAMPLE)
    assert registry.admins
    assert registry.freezes


def test_a_cron_line_is_checked_in_its_time_zone() -> None:
    spec = parse(service(RUNNABLE + "nightly: {cron: '30 1 * * mon-fri', timezone: Asia/Tokyo}\n"))
    nightly = spec.get("svc").nightly
    assert nightly is not None
    assert (nightly.cron, nightly.timezone) == ("30 1 * * mon-fri", "Asia/Tokyo")


def test_one_broken_service_does_not_hide_the_others() -> None:
    text = PREAMBLE + (
        "  a: {strategy: {kind: rolling}}\n"
        "  b: {strategy: {kind: rolling, deployment: b}}\n"
        "  c: {strategy: {kind: rolling, deployment: c}, on_fail: maybe}\n"
    )
    assert problems_of(text) == [
        "services.yaml: a.strategy.deployment: required",
        "services.yaml: c.on_fail: expected one of: undo, ask (got 'maybe')",
    ]


# --- problems outside any service ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", ["top level: the file is empty; expected a mapping with a 'services' key"],
                     id="empty"),
        pytest.param("- a\n- b\n", ["top level: expected a mapping with a 'services' key"],
                     id="a-list"),
        pytest.param("defaults: {}\n", ["services: required"], id="no-services"),
        pytest.param("services: [a, b]\n", ["services: expected a mapping of name to service"],
                     id="services-a-list"),
        pytest.param("services:\n", ["services: expected a mapping of name to service"],
                     id="services-empty"),
        pytest.param("---\nservices: {}\n---\nservices: {}\n",
                     ["line 3, column 1: not valid YAML: expected a single document in the"
                      " stream, but found another document"], id="two-documents"),
        pytest.param("servics: {}\nservices: {}\n",
                     ["servics: unknown top-level key"
                      " (expected: admins, defaults, freezes, services)"],
                     id="unknown-top-level-key"),
        pytest.param("services:\n  a: [\n",
                     ["line 3, column 1: not valid YAML: expected the node content,"
                      " but found '<stream end>'"], id="yaml-syntax"),
        pytest.param("defaults: 3\nservices: {}\n",
                     ["defaults: expected a mapping of service fields"],
                     id="defaults-not-a-mapping"),
        pytest.param("defaults: {chanel: '#x'}\nservices: {}\n",
                     ["defaults.chanel: unknown field"], id="defaults-typo-reported-once"),
        pytest.param("services:\n  Fop_Gate: {}\n",
                     ["Fop_Gate: bad service name 'Fop_Gate': use lowercase letters, digits and"
                      " '-', starting and ending with a letter or digit, at most 63 characters"],
                     id="service-name"),
        pytest.param("services:\n  web: 3\n", ["web: expected a mapping of service fields"],
                     id="service-not-a-mapping"),
        pytest.param("admins: [alice]\nservices: {}\n",
                     ["admins[0]: bad Slack user id 'alice': expected U… or W…"],
                     id="admin-not-a-user-id"),
        pytest.param("admins: U0ADMIN01\nservices: {}\n",
                     ["admins: expected a list (got 'U0ADMIN01')"], id="admins-not-a-list"),
        pytest.param("freezes: [{cron: '0 18 * * fri'}]\nservices: {}\n",
                     ["freezes[0].duration: required"], id="freeze-without-duration"),
        pytest.param("freezes: [{cron: '0 18 * * fri', duration: 2h, until: mon}]\n"
                     "services: {}\n",
                     ["freezes[0].until: unknown field"], id="freeze-unknown-field"),
    ],
)  # fmt: skip
def test_file_level_problems_say_where(text: str, expected: list[str]) -> None:
    assert problems_of(text) == [f"services.yaml: {line}" for line in expected]


def test_a_duplicated_service_is_reported_with_its_line() -> None:
    body = "    strategy: {kind: rolling, deployment: web}\n"
    text = PREAMBLE + "  web:\n" + body + "  web:\n" + body
    assert problems_of(text) == ["services.yaml: line 7: duplicate key 'web'"]


def test_keys_merged_from_an_anchor_are_not_duplicates() -> None:
    text = PREAMBLE + (
        "  web: &base\n"
        "    strategy: {kind: rolling, deployment: web}\n"
        "  api:\n"
        "    <<: *base\n"
        "    strategy: {kind: rolling, deployment: api}\n"
    )
    assert parse(text).get("api").strategy.deployment == "api"


def test_an_empty_services_mapping_is_an_empty_registry() -> None:
    assert len(parse("services: {}\n")) == 0


def test_an_unreadable_file_is_one_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RegistryError) as caught:
        load_registry(missing)
    assert [str(p) for p in caught.value.problems] == [
        f"{missing}: file: cannot read it: No such file or directory"
    ]


# --- using a registry ------------------------------------------------------------------


def test_an_unknown_service_suggests_close_names() -> None:
    registry = load_registry(EXAMPLE)
    with pytest.raises(UnknownService) as caught:
        registry.get("fop-gat")
    assert caught.value.suggestions[0] == "fop-gate"
    assert str(caught.value) == "unknown service 'fop-gat' (did you mean: fop-gate?)"
    assert isinstance(caught.value, KeyError)


def test_an_unknown_service_with_no_close_name_suggests_nothing() -> None:
    with pytest.raises(UnknownService, match=r"^unknown service 'zzz'$"):
        load_registry(EXAMPLE).get("zzz")


def test_a_registry_iterates_names_in_file_order() -> None:
    registry = load_registry(EXAMPLE)
    assert list(registry) == ["fop-gate", "img-thumbnail", "hexo-blog", "myapp", "checkout",
                              "testpage"]  # fmt: skip
    assert "fop-gate" in registry
    assert list(registry.services) == list(registry)


def test_specs_are_frozen() -> None:
    spec = load_registry(EXAMPLE).get("fop-gate")
    with pytest.raises(ValidationError, match="frozen"):
        spec.on_fail = FailPolicy.ASK


def test_the_example_paused_rollout_selects_pods_by_template_hash() -> None:
    spec = load_registry(EXAMPLE).get("img-thumbnail")
    assert spec.metrics.track_selector is TrackSelector.POD_TEMPLATE_HASH


def test_fill_query_replaces_placeholders_and_keeps_label_matchers() -> None:
    template = 'sum(rate(http_requests_total{service="{service}",code=~"5.."}[{window}]))'
    filled = fill_query(template, {"service": "fop-gate", "window": "10m"})
    assert filled == 'sum(rate(http_requests_total{service="fop-gate",code=~"5.."}[10m]))'


def test_a_services_plan_carries_its_release_policy_to_the_machine() -> None:
    registry = load_registry(EXAMPLE)
    fop_gate = registry.get("fop-gate").plan()
    assert fop_gate == Plan(
        steps=1,
        windows_per_step=fop_gate.windows_per_step,
        window=fop_gate.window,
        gate=Gate.FINAL,
        on_fail=FailPolicy.UNDO,
        approval_deadline=timedelta(minutes=30),
        on_deadline=DeadlineAction.HOLD,
        allow_self_approval=False,
        step_values=(1,),
    )
    myapp = registry.get("myapp").plan()  # istio, weights 10 → 50 → 100, asked at every step
    assert (myapp.steps, myapp.gate, myapp.on_deadline) == (3, Gate.EVERY_STEP, DeadlineAction.UNDO)
    assert myapp.step_values == (10, 50, 100)
    assert registry.get("hexo-blog").plan().step_values == ()  # blue-green switches once
