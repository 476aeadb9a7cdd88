"""How fast `/canary` is acknowledged in HTTP mode, next to a bare Bolt app that only acks.

Signed slash commands go from keep-alive clients over loopback to two apps, each in its own
process as in production: the bot as :func:`bot.app.serve` runs it (its front door, which acks
and queues, and the worker child it starts), and a bare Bolt app whose `/canary` listener only
calls ``ack()``, behind the same waitress setup and Bolt settings. The load goes to one app at
a time, in rounds whose first app alternates, so the ratio of their p99s shows what our
listener, its queue and the worker beside it add. Web API calls go to a small server in a
third process, Redis is real, and there is no cluster: `status` fails in the worker, after the
ack, and tells the asker so.

Run from the repository root::

    python -m bench.ack_latency [--requests 1000] [--concurrency 50]

It prints the table and the checks, and last the line
``ack: p50=…ms p99=…ms bare_p99=…ms ratio=…``; it exits 1, naming the failed checks on
stderr, when any check fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from slack_sdk.signature import SignatureVerifier

from bench.report import Check, positive, report
from tests.servers import RedisServer, free_port, unconfigured_environment, wait_until

OFFICIAL_REQUESTS = 1_000
OFFICIAL_CONCURRENCY = 50
MAX_P99_MS = 100.0
MAX_RATIO = 1.5
WARM_UP = 50  # requests to each app before the measured rounds, not counted
ROUNDS = 10
HTTP_THREADS = 16  # waitress threads, as bot.app serves HTTP mode
REQUEST_TIMEOUT_S = 10.0
TIME_LIMIT_S = 300.0  # a round's requests not sent by then count as errors
ROOT = Path(__file__).resolve().parents[1]
# Each app, with every process it starts (our worker too), gets one CPU of its own, as a pod
# with a one-CPU limit would; the load and the servers around it run on the others. With one
# CPU nothing is pinned.
_CPUS = sorted(os.sched_getaffinity(0))
APP_CPUS: set[int] = {_CPUS[-1]} if len(_CPUS) > 1 else set()
LOAD_CPUS: set[int] = set(_CPUS[:-1]) or set(_CPUS)
COMMAND = {"command": "/canary", "team_id": "T0BENCH", "channel_id": "C0", "user_id": "U0ASKER"}
AUTH_TEST = {"ok": True, "team_id": "T0BENCH", "user_id": "U0BOT", "bot_id": "B0BOT"}


@dataclass(frozen=True)
class Kind:
    """One command of the mix, and a piece of our ack's body (b"": an empty ack)."""

    name: str
    text: str
    answer: bytes

    def acked(self, body: bytes, *, bare: bool) -> bool:
        """Whether `body` is the ack this kind gets; the bare app's is always empty."""
        return body == b"" if bare or not self.answer else self.answer in body


KINDS = (
    Kind("status", "fop-gate status", b""),  # ack, then a worker asks Redis and the cluster
    Kind("help", "help", b'"blocks"'),  # ack with the help
    Kind("error", "nosuch start", b"nosuch"),  # ack with what is wrong
)


@dataclass(frozen=True)
class Sample:
    """One request: its kind, the HTTP status (0: no response), and send to full response."""

    kind: str
    status: int
    acked: bool
    ms: float


@dataclass(frozen=True)
class Latency:
    """Nearest-rank percentiles of the answered requests; errors: non-200, unacked, unanswered."""

    n: int
    p50: float
    p90: float
    p99: float
    max: float
    errors: int

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> Latency:
        """The figures of `samples`; NaN percentiles when none was answered."""
        times = sorted(s.ms for s in samples if s.status)

        def rank(q: float) -> float:
            return times[max(0, math.ceil(q * len(times)) - 1)] if times else math.nan

        errors = sum(s.status != 200 or not s.acked for s in samples)
        return cls(len(samples), rank(0.5), rank(0.9), rank(0.99), rank(1.0), errors)


@dataclass
class Outcome:
    """What one run measured, warm-up excluded: each app's samples and CPU seconds, and more."""

    samples: dict[str, list[Sample]] = field(default_factory=lambda: {"ours": [], "bare": []})
    cpu_s: dict[str, float] = field(default_factory=lambda: {"ours": 0.0, "bare": 0.0})
    statuses: int = 0  # status commands our bot acked, warm-up included
    follow_ups: int = 0  # chat.postEphemeral calls the Web API got
    worker_errors: int = 0  # "a Slack request failed" in the bot's log

    @property
    def ratio(self) -> float:
        """Our p99 over bare's."""
        return Latency.of(self.samples["ours"]).p99 / Latency.of(self.samples["bare"]).p99


# --- the child processes --------------------------------------------------------------------


def serve(which: str) -> int:
    """A child's side: serve the Web API, our bot or the bare app until SIGTERM."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    if which == "ours":
        from bot.app import build_bot
        from bot.app import serve as serve_bot
        from bot.settings import load_settings

        serve_bot(build_bot(load_settings()), stop=stop)
    else:
        _serve_wsgi(slack_api() if which == "api" else bare_app(), stop)
    return 0


def slack_api() -> WSGIApplication:
    """The Web API: auth.test names the bot, other methods are ok; ``/calls`` counts them."""
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def answer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ["PATH_INFO"]).rsplit("/", 1)[-1]
        with lock:
            calls[method] += method != "calls"
            reply = {"auth.test": AUTH_TEST, "calls": dict(calls)}.get(method, {"ok": True})
        body = json.dumps(reply).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [body]

    return answer


def bare_app() -> WSGIApplication:
    """A Bolt app whose `/canary` listener only acks, with the bot's settings."""
    from slack_bolt import Ack, App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient

    from bot.settings import load_settings

    settings = load_settings()
    credentials = settings.require_slack()
    client = WebClient(token=credentials.bot_token, base_url=settings.slack.api_url)
    # Bolt's settings as the bot's (bot.app.build_front): the ratio is then what our listener
    # and queue add, not a difference in how Bolt is told to answer.
    app = App(
        client=client,
        signing_secret=credentials.signing_secret or "",
        process_before_response=True,
    )

    def only_ack(ack: Ack) -> None:
        ack()

    app.command("/canary")(only_ack)
    return SlackRequestHandler(app)


def _serve_wsgi(app: WSGIApplication, stop: threading.Event) -> None:
    from waitress.server import create_server

    port = int(os.environ["CANARYBOT_HTTP_PORT"])
    server = create_server(app, host="127.0.0.1", port=port, threads=HTTP_THREADS)
    threading.Thread(target=lambda: (stop.wait(), server.close()), daemon=True).start()
    with suppress(OSError):  # closing the server from the other thread ends run() this way
        server.run()


@dataclass
class ServerProcess:
    """``python -m bench.ack_latency --serve which`` in a child process, on its own port."""

    which: str
    log: Path
    port: int = field(default_factory=free_port)
    child: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> ServerProcess:
        """Start the child, its output to `log`; it listens a few seconds later."""
        command = [sys.executable, "-m", "bench.ack_latency", "--serve", self.which]
        env = env | {"CANARYBOT_HTTP_PORT": str(self.port)}
        with self.log.open("wb") as out:
            self.child = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=out, preexec_fn=self._placed
            )
        return self

    def _placed(self) -> None:
        """In the child before it runs: an app on its CPU; the Web API, which stands in for
        Slack far away, only on CPU time nothing else wants."""
        if self.which != "api" and APP_CPUS:
            os.sched_setaffinity(0, APP_CPUS)
        if self.which == "api":
            _far_away(0)

    def stop(self) -> None:
        """SIGTERM (the child closes its server), then SIGKILL after 10 s."""
        if self.child is not None:
            self.child.terminate()
            try:
                self.child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait(timeout=10)
            self.child = None

    def listening(self) -> bool:
        """Whether the port takes connections; raises, with the log, if the child died."""
        if self.child is None or self.child.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the {self.which} server exited early; its log ends:\n{tail}")
        with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True
        return False

    def cpu_s(self) -> float:
        """CPU seconds the child and its own children (the bot's worker) have used; else NaN."""
        return _cpu_s(self.child.pid) if self.child else math.nan


def _cpu_s(pid: int) -> float:
    """User and system CPU seconds of `pid` and its live descendants, from Linux's /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return math.nan
    fields = stat.rsplit(")", 1)[1].split()  # after the name: state is field 3
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_s(int(child)) for child in children)


def _far_away(pid: int) -> None:
    """Give `pid` (0: this process) only CPU time nothing else wants: it stands in for a
    service that runs on other machines, and must not slow the load or the apps here."""
    from bot.worker_process import yield_cpu

    yield_cpu(19, pid)


def environment(*, api_port: int, redis_url: str, secret: str, tmp: Path) -> dict[str, str]:
    """The apps' settings, as an operator sets them; no cluster, no Prometheus."""
    kept = unconfigured_environment()
    (tmp / "kubeconfig").write_text("# no cluster: status fails in its worker\n")
    return kept | {
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": secret,
        "SLACK_API_URL": f"http://127.0.0.1:{api_port}/api/",
        "CANARYBOT_SLACK_MODE": "http",
        "CANARYBOT_HTTP_HOST": "127.0.0.1",
        "REDIS_URL": redis_url,
        "PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens: never asked
        "CANARYBOT_CONFIG": str(ROOT / "deploy" / "services.example.yaml"),
        "KUBECONFIG": str(tmp / "kubeconfig"),
    }


# --- the load -------------------------------------------------------------------------------


def load(
    server: ServerProcess, kinds: Sequence[Kind], *, concurrency: int, secret: str
) -> list[Sample]:
    """Send `kinds` from `concurrency` keep-alive clients at once; a sample each.

    Every request is built and signed before the clients start, so that during the load the
    clients' CPU goes to sending and reading only.
    """
    signer = SignatureVerifier(secret)
    jobs = deque((kind, _signed(kind, signer)) for kind in kinds)  # popleft is atomic
    samples = list[Sample]()  # append is atomic
    port, bare = server.port, server.which == "bare"
    start = threading.Barrier(concurrency)
    deadline = time.monotonic() + TIME_LIMIT_S

    def client() -> None:
        connection = HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        connection.connect()  # before any clock starts
        start.wait()
        with suppress(IndexError):
            while time.monotonic() < deadline:
                kind, request = jobs.popleft()
                samples.append(_send(connection, kind, request, bare=bare))
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples + [Sample(kind.name, 0, False, math.nan) for kind, _ in jobs]


def _signed(kind: Kind, signer: SignatureVerifier) -> tuple[bytes, dict[str, str]]:
    """The body and headers of `kind` as Slack sends it: form-encoded and signed now."""
    body = urlencode(COMMAND | {"text": kind.text, "trigger_id": secrets.token_hex(8)}).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signer.generate_signature(timestamp=timestamp, body=body) or "",
    }
    return body, headers


def _send(
    connection: HTTPConnection,
    kind: Kind,
    request: tuple[bytes, dict[str, str]],
    *,
    bare: bool,
) -> Sample:
    body, headers = request
    started = time.perf_counter()
    try:
        connection.request("POST", "/slack/events", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
    except (OSError, HTTPException):
        connection.close()  # the next request reconnects
        return Sample(kind.name, 0, False, (time.perf_counter() - started) * 1000)
    ms = (time.perf_counter() - started) * 1000
    return Sample(kind.name, response.status, kind.acked(answer, bare=bare), ms)


def mix(requests: int) -> list[Kind]:
    """`requests` commands, the kinds taking turns."""
    return [KINDS[i % len(KINDS)] for i in range(requests)]


def measure(*, requests: int, concurrency: int) -> Outcome:
    """Start Redis, the Web API and both apps; warm up, load the apps in rounds; stop it all.

    One app at a time; after ours, wait (≤ 10 s) until its follow-ups are done, so that its
    workers are idle when the next load starts.
    """
    secret, outcome = secrets.token_hex(16), Outcome()
    if APP_CPUS:  # the clients, Redis and the Web API keep off the apps' CPU
        os.sched_setaffinity(0, LOAD_CPUS)
    kinds = mix(requests)
    rounds = [kinds[r * requests // ROUNDS : (r + 1) * requests // ROUNDS] for r in range(ROUNDS)]
    with tempfile.TemporaryDirectory(prefix="ack-latency-") as tmp, ExitStack() as stack:
        servers = _start(Path(tmp), secret=secret, stack=stack)
        for r, batch in enumerate([mix(WARM_UP), *rounds]):  # round 0 warms up
            for which in ("ours", "bare") if r % 2 else ("bare", "ours"):
                cpu_s = servers[which].cpu_s()
                got = load(servers[which], batch, concurrency=concurrency, secret=secret)
                if which == "ours":
                    outcome.statuses += sum(s.kind == "status" and s.status == 200 for s in got)
                    _settle(servers["api"], outcome.statuses)
                if r:
                    outcome.samples[which] += got
                    outcome.cpu_s[which] += servers[which].cpu_s() - cpu_s
        outcome.follow_ups = _follow_ups(servers["api"])
        stack.close()  # stops the apps: their logs are complete
        outcome.worker_errors = servers["ours"].log.read_text().count("a Slack request failed")
    return outcome


def _start(tmp: Path, *, secret: str, stack: ExitStack) -> dict[str, ServerProcess]:
    redis_server = RedisServer(tmp / "redis").start()
    stack.callback(redis_server.stop)
    if redis_server.process is not None:
        _far_away(redis_server.process.pid)
    servers = {
        which: ServerProcess(which, tmp / f"{which}.log") for which in ("api", "bare", "ours")
    }
    env = environment(
        api_port=servers["api"].port, redis_url=redis_server.url, secret=secret, tmp=tmp
    )
    for server in servers.values():
        stack.callback(server.start(env).stop)
    for server in servers.values():
        wait_until(server.listening, timeout_s=60, what=f"the {server.which} server")
    return servers


def _follow_ups(api: ServerProcess) -> int:
    with urlopen(f"http://127.0.0.1:{api.port}/calls", timeout=5) as response:
        return int(json.load(response).get("chat.postEphemeral", 0))


def _settle(api: ServerProcess, statuses: int) -> None:
    with suppress(TimeoutError):  # the checks report a shortfall
        wait_until(lambda: _follow_ups(api) >= statuses, timeout_s=10, what="the follow-ups")


# --- the report -----------------------------------------------------------------------------


def checks(outcome: Outcome, *, requests: int, concurrency: int) -> list[Check]:
    """The conditions the ack path is held to, on this run's figures."""
    p99 = Latency.of(outcome.samples["ours"]).p99
    every = outcome.samples["ours"] + outcome.samples["bare"]
    not_200 = sum(s.status != 200 for s in every)
    unacked = sum(s.status == 200 and not s.acked for s in every)
    return [
        Check(p99 <= MAX_P99_MS, f"ours: p99 {p99:.1f} ms ≤ {MAX_P99_MS:g} ms"),
        Check(outcome.ratio <= MAX_RATIO, f"p99 ours / bare {outcome.ratio:.2f} ≤ {MAX_RATIO:g}"),
        Check(not_200 == 0, f"no non-200 responses: {not_200} of {len(every):,}"),
        Check(unacked == 0, f"every 200 is the ack its command gets: {unacked} are not"),
        Check(
            outcome.follow_ups >= outcome.statuses,
            f"every status got its answer after the ack: {outcome.follow_ups} "
            f"chat.postEphemeral for {outcome.statuses} status commands",
        ),
        Check(
            requests >= OFFICIAL_REQUESTS and concurrency >= OFFICIAL_CONCURRENCY,
            f"{requests:,} requests at {concurrency} clients ≥ {OFFICIAL_REQUESTS:,} at "
            f"{OFFICIAL_CONCURRENCY} (an official run)",
        ),
    ]


def header(*, requests: int, concurrency: int) -> list[str]:
    """What was run, how, and on what."""
    kinds = ", ".join(f"{k.name} (/canary {k.text})" for k in KINDS)
    return [
        "ack latency: signed /canary slash commands, canarybot's HTTP mode vs a bare Bolt app "
        f"that only acks, each in its own process behind waitress ({HTTP_THREADS} threads)",
        f"{requests:,} requests to each from {concurrency} concurrent keep-alive clients on "
        f"loopback after {WARM_UP} warm-up requests; {ROUNDS} rounds, one app at a time, the "
        f"first alternating; {os.cpu_count()} CPUs",
        f"mix, in turns: {kinds}",
        "latency: send to full response (perf_counter), nearest-rank percentiles; CPU: the "
        "app's processes (ours: front door and worker), its work after the ack included",
        "both apps run Bolt with process_before_response=True (the listener answers in the "
        "request's thread); ours hands the work to its outbox, which queues it in Redis for "
        "its worker process",
        _placement(),
    ]


def _placement() -> str:
    if not APP_CPUS:
        return "one CPU: nothing pinned"
    return (
        f"each app, its worker included, pinned to CPU {min(APP_CPUS)}; the clients on "
        f"{', '.join(map(str, sorted(LOAD_CPUS)))}; Redis and the Web API, which stand in for "
        "servers elsewhere, at idle priority"
    )


def table(outcome: Outcome) -> list[str]:
    """Latency and errors for ours (all, then each kind) and bare; each app's CPU a request."""
    ours, bare = outcome.samples["ours"], outcome.samples["bare"]
    rows = [("ours", ours, _cpu_ms(outcome, "ours"))]
    rows += [(f"  {k.name}", [s for s in ours if s.kind == k.name], "") for k in KINDS]
    rows.append(("bare", bare, _cpu_ms(outcome, "bare")))
    lines = [f"{'':8}{'n':>6}   p50 ms   p90 ms   p99 ms   max ms  errors  CPU ms/request"]
    for title, samples, cpu in rows:
        t = Latency.of(samples)
        figures = f"{t.p50:>9.1f}{t.p90:>9.1f}{t.p99:>9.1f}{t.max:>9.1f}{t.errors:>8}{cpu:>16}"
        lines.append(f"{title:8}{t.n:>6,}{figures}".rstrip())
    return lines


def _cpu_ms(outcome: Outcome, which: str) -> str:
    return f"{outcome.cpu_s[which] * 1000 / max(1, len(outcome.samples[which])):.2f}"


def last_line(outcome: Outcome) -> str:
    """``ack: p50=12.3ms p99=45.6ms bare_p99=40.1ms ratio=1.14``."""
    ours, bare = Latency.of(outcome.samples["ours"]), Latency.of(outcome.samples["bare"])
    return (
        f"ack: p50={ours.p50:.1f}ms p99={ours.p99:.1f}ms bare_p99={bare.p99:.1f}ms "
        f"ratio={outcome.ratio:.2f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load, print the report, and return 1 when a check fails."""
    args = _arguments().parse_args(argv)
    if args.serve:
        return serve(args.serve)
    outcome = measure(requests=args.requests, concurrency=args.concurrency)
    found = checks(outcome, requests=args.requests, concurrency=args.concurrency)
    sections = [
        header(requests=args.requests, concurrency=args.concurrency),
        table(outcome),
        [f"bot log: {outcome.worker_errors} worker errors (status without a cluster)"],
    ]
    return report("ack_latency", sections, found, last_line(outcome))


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.ack_latency", description=__doc__)
    parser.add_argument(
        "--requests", type=positive, default=OFFICIAL_REQUESTS, help="measured requests to each"
    )
    parser.add_argument(
        "--concurrency", type=positive, default=OFFICIAL_CONCURRENCY, help="concurrent clients"
    )
    parser.add_argument("--serve", choices=("api", "ours", "bare"), help=argparse.SUPPRESS)
    return parser


if __name__ == "__main__":
    sys.exit(main())
