"""Seeds 002 and 004: Istio subsets by `version`, VirtualService weights per step, or A/B.

The new version runs in `<deployment>-<version>` beside the live one; the DestinationRule
gets a subset for it, and the VirtualService's routes to the host split by weight (10 → 50 →
100 by default). With a header or cookie match, only matching requests go to the new version
(its weight applies to them), everyone else stays on the live one. Promotion routes everything
to the new subset and retires the old one; undo routes everything back.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from k8s.cluster import Cluster, Obj
from k8s.errors import InvalidError, NotFoundError
from k8s.resources import DEPLOYMENTS, DESTINATION_RULES, SERVICES, VIRTUAL_SERVICES
from k8s.rollouts import (
    health_of,
    pause_deployment,
    rollout_complete,
    workload_of,
)
from k8s.strategy import STEP, annotations_of, expect_image
from k8s.types import Health, ReleaseStatus, Revision
from k8s.versions import (
    PREVIOUS_VERSION,
    bring_up,
    deployment_with_labels,
    versions_history,
)

AB_ROUTE = "canarybot-ab"  # the route the bot adds for A/B matching; nothing else uses the name


@dataclass(frozen=True)
class TrafficMatch:
    """Which requests an A/B release sends to the new version."""

    header: str | None = None  # header name, matched exactly against `value`
    cookie: str | None = None  # cookie name, its value matched against `value` as a regex
    value: str = ""

    def istio_match(self) -> list[dict[str, Any]]:
        """The VirtualService `match` clause."""
        if self.header:
            return [{"headers": {self.header: {"exact": self.value}}}]
        return [
            {"headers": {"cookie": {"regex": f"^(.*?;\\s*)?{self.cookie}={self.value}(;.*)?$"}}}
        ]


def route_traffic(
    vs: Obj, *, host: str, live: str, new: str, weight: int, match: TrafficMatch | None
) -> bool:
    """Send `weight`% of the host's traffic (or of the matching traffic) to subset `new`.

    Edits `vs` in place; returns False when it already routes so. Purely computational.
    """
    before = copy.deepcopy(vs)
    http = [r for r in vs["spec"].get("http", []) if r.get("name") != AB_ROUTE]
    split = _split(host, live, new, weight)
    for route in http:
        if any(d.get("destination", {}).get("host") == host for d in route.get("route", [])):
            route["route"] = split if match is None else _split(host, live, new, 0)
    if match is not None and weight > 0:
        http.insert(0, {"name": AB_ROUTE, "match": match.istio_match(), "route": split})
    vs["spec"]["http"] = http
    return vs != before


def _split(host: str, live: str, new: str, weight: int) -> list[dict[str, Any]]:
    if weight <= 0:
        return [{"destination": {"host": host, "subset": live}}]
    if weight >= 100:
        return [{"destination": {"host": host, "subset": new}}]
    return [
        {"destination": {"host": host, "subset": live}, "weight": 100 - weight},
        {"destination": {"host": host, "subset": new}, "weight": weight},
    ]


def main_subset(vs: Obj, host: str) -> tuple[str, int]:
    """The subset taking most of the host's unmatched traffic, and the share of the other one."""
    for route in reversed(vs["spec"].get("http", [])):
        if route.get("name") == AB_ROUTE:
            continue
        dests = [d for d in route.get("route", []) if d.get("destination", {}).get("host") == host]
        if dests:
            heaviest = max(dests, key=lambda d: d.get("weight", 100))
            return str(heaviest["destination"].get("subset", "")), 100 - heaviest.get("weight", 100)
    raise InvalidError(f"VirtualService {vs['metadata']['name']} has no route to {host}")


def with_subset(dr: Obj, name: str, labels: dict[str, str] | None) -> bool:
    """Add (labels given) or remove (None) a DestinationRule subset. Purely computational."""
    subsets = [s for s in dr["spec"].get("subsets", []) if s.get("name") != name]
    if labels is not None:
        subsets.append({"name": name, "labels": labels})
    if subsets == dr["spec"].get("subsets", []):
        return False
    dr["spec"]["subsets"] = subsets
    return True


@dataclass(frozen=True)
class IstioStrategy:
    """Release by Istio subsets and VirtualService weights (or an A/B match)."""

    cluster: Cluster
    namespace: str
    deployment: str
    host: str
    virtual_service: str
    destination_rule: str
    version_label: str = "version"
    steps: tuple[int, ...] = (10, 50, 100)
    match: TrafficMatch | None = None
    container: str | None = None
    timeout_s: float = 600.0

    def start(self, image: str) -> None:
        """Bring the new version up, give it a subset, then the first step's traffic."""
        live_version, live = self._live()
        version = bring_up(
            self.cluster,
            self.namespace,
            live=live,
            live_version=live_version,
            base=self.deployment,
            image=image,
            version_label=self.version_label,
            container=self.container,
            timeout_s=self.timeout_s,
        )
        self.cluster.modify(
            DESTINATION_RULES,
            self.namespace,
            self.destination_rule,
            lambda dr: with_subset(dr, version, {self.version_label: version}),
        )
        self._route(live_version, version, self.steps[0])

    def set_step(self, step: int) -> None:
        """Give the new version the step's weight."""
        new = self._require_new()
        expect_image(new, workload_of(new, self.container).image)
        self.cluster.modify(
            DEPLOYMENTS,
            self.namespace,
            new["metadata"]["name"],
            lambda d: _note(d, STEP, str(step)),
        )
        self._route(annotations_of(new)[PREVIOUS_VERSION], self._version(new), self.steps[step])

    def status(self) -> ReleaseStatus:
        """The new version's pods and its share of the traffic."""
        vs = self.cluster.get(VIRTUAL_SERVICES, self.namespace, self.virtual_service)
        main, other_share = main_subset(vs, self.host)
        new = self._new()
        if new is None:
            return ReleaseStatus(Health.READY, f"{self.host} routes to subset {main}")
        canary = workload_of(new, self.container)
        share = 1.0 if main == self._version(new) else other_share / 100
        ab = f" of requests matching {self.match}" if self.match else ""
        line = (
            f"{canary.name} {canary.ready}/{canary.replicas} ready on {canary.image}; "
            f"{share:.0%}{ab} routed to it"
        )
        health, message = health_of(
            self.cluster, self.namespace, new, line=line, in_place=rollout_complete(new)
        )
        return ReleaseStatus(health, message, canary=canary, canary_share=share)

    def pause(self) -> None:
        """Hold the new version's rollout (traffic stays as it is)."""
        if (new := self._new()) is not None:
            pause_deployment(self.cluster, self.namespace, new["metadata"]["name"], paused=True)

    def resume(self) -> None:
        """Let the new version's rollout go on."""
        if (new := self._new()) is not None:
            pause_deployment(self.cluster, self.namespace, new["metadata"]["name"], paused=False)

    def promote(self) -> None:
        """All traffic to the new subset, then retire the old subset and its pods."""
        new = self._require_new()
        expect_image(new, workload_of(new, self.container).image)
        old_version, version = annotations_of(new)[PREVIOUS_VERSION], self._version(new)
        self._route(old_version, version, 100, match=None)
        self.cluster.modify(
            DESTINATION_RULES,
            self.namespace,
            self.destination_rule,
            lambda dr: with_subset(dr, old_version, None),
        )
        old_pods = self._pods_of({"labels": {self.version_label: old_version}})
        old = deployment_with_labels(self.cluster, self.namespace, old_pods)
        if old is not None:
            self.cluster.delete(DEPLOYMENTS, self.namespace, old["metadata"]["name"])
        self.cluster.modify(
            DEPLOYMENTS,
            self.namespace,
            new["metadata"]["name"],
            lambda d: _note(d, PREVIOUS_VERSION, ""),
        )

    def undo(self, to_revision: int | None = None) -> None:
        """All traffic back to the old subset; remove the new subset and its pods."""
        new = self._new()
        if new is None:
            return
        old_version, version = annotations_of(new)[PREVIOUS_VERSION], self._version(new)
        self._route(old_version, version, 0, match=None)
        self.cluster.modify(
            DESTINATION_RULES,
            self.namespace,
            self.destination_rule,
            lambda dr: with_subset(dr, version, None),
        )
        self.cluster.delete(DEPLOYMENTS, self.namespace, new["metadata"]["name"])

    def history(self) -> list[Revision]:
        """The versions present, oldest first."""
        vs = self.cluster.get(VIRTUAL_SERVICES, self.namespace, self.virtual_service)
        main, _ = main_subset(vs, self.host)
        return versions_history(
            self.cluster.select(DEPLOYMENTS, self.namespace),
            version_label=self.version_label,
            live_version=main,
            container=self.container,
        )

    # --- pieces ------------------------------------------------------------------------------

    def _live(self) -> tuple[str, Obj]:
        vs = self.cluster.get(VIRTUAL_SERVICES, self.namespace, self.virtual_service)
        version, _ = main_subset(vs, self.host)
        dr = self.cluster.get(DESTINATION_RULES, self.namespace, self.destination_rule)
        subset = next((s for s in dr["spec"].get("subsets", []) if s.get("name") == version), None)
        if subset is None:
            raise NotFoundError(f"DestinationRule {self.destination_rule} has no subset {version}")
        live = deployment_with_labels(self.cluster, self.namespace, self._pods_of(subset))
        if live is None:
            raise NotFoundError(f"no Deployment runs the pods of subset {version}")
        return version, live

    def _pods_of(self, subset: dict[str, Any]) -> dict[str, str]:
        """The labels of a subset's pods: the host Service's selector plus the subset's labels.

        Istio applies subset labels on top of the host's Service, so `version: v1` alone would
        also match other services' pods.
        """
        service = self.cluster.get(SERVICES, self.namespace, self.host.split(".")[0])
        return {**service["spec"].get("selector", {}), **subset.get("labels", {})}

    def _new(self) -> Obj | None:
        host_pods = self._pods_of({})
        made = [
            d
            for d in self.cluster.select(DEPLOYMENTS, self.namespace)
            if annotations_of(d).get(PREVIOUS_VERSION)
            and all(
                d["spec"]["template"]["metadata"].get("labels", {}).get(k) == v
                for k, v in host_pods.items()
            )
        ]
        return made[-1] if made else None

    def _require_new(self) -> Obj:
        new = self._new()
        if new is None:
            raise NotFoundError(f"no new version of {self.deployment} is running")
        return new

    def _version(self, deployment: Obj) -> str:
        return str(deployment["spec"]["template"]["metadata"]["labels"][self.version_label])

    def _route(
        self, live: str, new: str, weight: int, *, match: TrafficMatch | bool | None = True
    ) -> None:
        chosen = self.match if match is True else (match or None)
        self.cluster.modify(
            VIRTUAL_SERVICES,
            self.namespace,
            self.virtual_service,
            lambda vs: route_traffic(
                vs, host=self.host, live=live, new=new, weight=weight, match=chosen
            ),
        )


def _note(obj: Obj, key: str, value: str) -> bool:
    notes = annotations_of(obj)
    if value == "":
        return notes.pop(key, None) is not None
    if notes.get(key) == value:
        return False
    notes[key] = value
    return True
