"""What the playground says on screen once everything runs: where to go, what to try."""

from __future__ import annotations

from playground.cluster import stable_image
from playground.parts import DEMO_SERVICE, Playground, PlaygroundOptions
from playground.services import ALICE, BOB, CAROL, RELEASES

NEXT_TAG = "2026-11-23"


def welcome_text(playground: Playground, options: PlaygroundOptions, *, seconds: float) -> str:
    """The lines printed when the playground is ready (the Slack URL line first of them)."""
    spec = playground.registry.get(DEMO_SERVICE)
    image = stable_image(spec.strategy.deployment).rsplit(":", 1)[0] + f":{NEXT_TAG}"
    window = round(options.window.total_seconds())
    metrics = (
        f"real Prometheus at {playground.prometheus_url}, scraping the traffic app"
        if playground.prometheus is not None
        else f"RECORDED metrics at {playground.prometheus_url} (prometheus is not installed)"
    )
    behaviour = (
        f"{playground.traffic.url}/_control/behaviour?namespace={spec.namespace}"
        f"&service={DEMO_SERVICE}&track=canary&error_share=0.4"
    )
    pids = ", ".join(f"{name} {pid}" for name, pid in playground.child_pids().items())
    ports = ", ".join(f"{name} {port}" for name, port in playground.ports().items())
    bad = (
        f"\n  --bad-canary: the next canary of {DEMO_SERVICE} answers 40 % of its requests "
        "with 5xx; watch its window FAIL and the release undo itself."
        if options.bad_canary
        else ""
    )
    return f"""
canarybot playground: ready in {seconds:.0f} s.
Slack: {playground.slack.url}/
  Open it in a browser: #{RELEASES.name} of a local Slack. "Act as" at the top picks who you
  are: {ALICE.real_name} and {BOB.real_name} approve releases, {CAROL.real_name} may not.

Try, as {ALICE.name}:  /canary {DEMO_SERVICE} start image={image}
  The bot posts the release's card; {window} s later the window's summary (TPS2XX / TPS5XX of
  canary against stable) and its chart are in the card's thread, with Promote, Extend, Undo.
  Then act as {BOB.name} and click Promote ({ALICE.name} may not promote her own release).
  Also: /canary {DEMO_SERVICE} status · /canary list · /canary help · /canary {DEMO_SERVICE} undo
  Other services of deploy/services.example.yaml are there too: img-thumbnail, hexo-blog,
  myapp, checkout, testpage (their windows have too little traffic to judge).{bad}
  A bad canary by hand: curl -X POST '{behaviour}'

Metrics: {metrics}
Cluster: the Kubernetes API simulator, kubeconfig {playground.work_dir / "kubeconfig"}
  (.venv/bin/kubectl --kubeconfig … get deploy -A)
Processes: {pids}
Ports: {ports}
Logs: {playground.work_dir}
Ctrl-C stops everything."""
