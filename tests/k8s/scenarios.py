"""One small cluster per strategy, as the seed documents set them up, and its services.yaml."""

from __future__ import annotations

from dataclasses import dataclass

OLD, NEW = "reg/app:1.0.0", "reg/app:2.0.0"
APPROVAL = "approval: {approvers: [U0ONCALL1]}"


def deployment(
    name: str, labels: dict[str, str], *, replicas: int, image: str = OLD, deadline_s: int = 30
) -> str:
    """A Deployment manifest whose selector is all of `labels`."""
    flat = ", ".join(f"{k}: {v}" for k, v in labels.items())
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop, labels: {{{flat}}}}}
spec:
  replicas: {replicas}
  progressDeadlineSeconds: {deadline_s}
  strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  selector: {{matchLabels: {{{flat}}}}}
  template:
    metadata: {{labels: {{{flat}}}}}
    spec:
      containers:
      - {{name: app, image: "{image}", ports: [{{containerPort: 8080}}]}}
"""


def service(name: str, selector: dict[str, str]) -> str:
    """A ClusterIP Service on port 80 → 8080."""
    flat = ", ".join(f"{k}: {v}" for k, v in selector.items())
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: shop}}
spec:
  selector: {{{flat}}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
"""


NAMESPACE = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
"""


@dataclass(frozen=True)
class Scenario:
    """A service's cluster objects and its services.yaml entry."""

    service: str
    manifests: str
    config: str
    workload: str  # the Deployment whose image promotion changes


CANARY_DEPLOYMENT = Scenario(
    service="fop-gate",
    workload="fop-gate",
    manifests="---".join(
        [
            deployment("fop-gate", {"app": "fop-gate", "track": "stable"}, replicas=9),
            service("fop-gate", {"app": "fop-gate"}),
        ]
    ),
    config="""
  fop-gate:
    namespace: shop
    strategy: {kind: canary-deployment, deployment: fop-gate, service: fop-gate, steps: [1]}
""",
)

PAUSED_ROLLOUT = Scenario(
    service="img-thumbnail",
    workload="img-thumbnail",
    manifests=deployment("img-thumbnail", {"app": "img-thumbnail"}, replicas=4),
    config="""
  img-thumbnail:
    namespace: shop
    strategy: {kind: paused-rollout, deployment: img-thumbnail, steps: [1],
               preview_service: img-thumbnail-preview}
""",
)

BLUE_GREEN = Scenario(
    service="hexo-blog",
    workload="hexo-server-2.0.0",
    manifests="---".join(
        [
            deployment("hexo-server", {"app": "hexo", "version": "v1"}, replicas=3),
            service("hexo-service", {"app": "hexo", "version": "v1"}),
        ]
    ),
    config="""
  hexo-blog:
    namespace: shop
    strategy: {kind: blue-green, deployment: hexo-server, service: hexo-service,
               preview_service: hexo-preview}
""",
)

ISTIO = Scenario(
    service="myapp",
    workload="myapp-2.0.0",
    manifests="---".join(
        [
            deployment("myapp", {"app": "myapp", "version": "v1"}, replicas=2),
            service("myapp-svc", {"app": "myapp"}),
            """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: myapp-dr, namespace: shop}
spec:
  host: myapp-svc
  subsets: [{name: v1, labels: {version: v1}}]
""",
            """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: myapp-vs, namespace: shop}
spec:
  hosts: [myapp-svc]
  http:
  - route: [{destination: {host: myapp-svc, subset: v1}}]
""",
        ]
    ),
    config="""
  myapp:
    namespace: shop
    strategy: {kind: istio, deployment: myapp, host: myapp-svc, virtual_service: myapp-vs,
               destination_rule: myapp-dr, steps: [10, 50, 100]}
""",
)

ROLLING = Scenario(
    service="testpage",
    workload="testpage",
    manifests=deployment("testpage", {"app": "testpage"}, replicas=3),
    config="""
  testpage:
    namespace: shop
    strategy: {kind: rolling, deployment: testpage, max_surge: 1, max_unavailable: 0,
               progress_deadline: 30s}
""",
)

ALL = (CANARY_DEPLOYMENT, PAUSED_ROLLOUT, BLUE_GREEN, ISTIO, ROLLING)


def services_yaml(*scenarios: Scenario) -> str:
    """A services file with the given scenarios' services."""
    head = f"""
defaults:
  channel: "#releases"
  {APPROVAL}
  observation: {{window: 1m}}
services:
"""
    return head + "".join(s.config for s in scenarios)
