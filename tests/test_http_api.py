"""`POST /api/candidates` through a real waitress server on loopback, on the real Redis."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from waitress.server import create_server

from bot.candidates import CandidateStore
from bot.http_api import CandidatesApi, not_found, with_api
from tests.factories import T0
from tests.servers import free_port
from tests.test_candidates import REGISTRY

TOKEN = "s3cret-pipeline-token"
IMAGE = "reg/fop-gate:2026-11-22"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Api:
    """The API served on a free port, and requests to it."""

    port: int

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        *,
        token: str | None = TOKEN,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            raw = body.encode() if isinstance(body, str) else body
            connection.request(method, path, body=raw, headers=sent)
            response = connection.getresponse()
            return Answer(
                response.status,
                {name.lower(): value for name, value in response.getheaders()},
                json.loads(response.read() or b"{}"),
            )
        finally:
            connection.close()

    def record(self, payload: object, **kwargs: Any) -> Answer:
        return self.request("POST", "/api/candidates", json.dumps(payload), **kwargs)


@pytest.fixture
def serve_api(redis_client: redis.Redis) -> Iterator[Callable[[str | None], Api]]:
    """Start the API (with `token`, or none) behind waitress, as the bot serves it."""
    servers: list[Any] = []
    threads: list[threading.Thread] = []

    def start(token: str | None) -> Api:
        api = CandidatesApi(
            CandidateStore(redis_client, REGISTRY), REGISTRY, token=token, clock=lambda: T0
        )
        port = free_port()
        server = create_server(with_api(api, not_found), host="127.0.0.1", port=port, threads=2)
        thread = threading.Thread(target=_run, args=(server,), daemon=True)
        thread.start()
        servers.append(server)
        threads.append(thread)
        return Api(port)

    yield start
    for server in servers:
        server.close()
    for thread in threads:
        thread.join(timeout=10)


def _run(server: Any) -> None:
    with contextlib.suppress(OSError):  # closed from the test's thread
        server.run()


@pytest.fixture
def api(serve_api: Callable[[str | None], Api]) -> Api:
    return serve_api(TOKEN)


def test_a_pipeline_records_a_candidate_and_gets_it_back_with_201(
    api: Api, redis_client: redis.Redis
) -> None:
    answer = api.record({"service": "fop-gate", "image": IMAGE, "by": "ci#4711"})

    assert answer.status == 201
    assert answer.body == {
        "service": "fop-gate",
        "image": IMAGE,
        "recorded_by": "ci#4711",
        "recorded_at": T0.isoformat(),
        "released_at": None,
        "nightly_at": "2026-11-23T02:00:00+01:00",
    }
    newest = CandidateStore(redis_client, REGISTRY).newest_unreleased("fop-gate")
    assert newest is not None
    assert (newest.image, newest.recorded_by) == (IMAGE, "ci#4711")


def test_a_service_without_a_nightly_says_so_with_null(api: Api) -> None:
    answer = api.record({"service": "billing", "image": "reg/billing:7"})
    assert (answer.status, answer.body["nightly_at"], answer.body["recorded_by"]) == (
        201,
        None,
        "api",
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("{not json", "expected a JSON object like", id="malformed-json"),
        pytest.param("[1, 2]", "expected a JSON object like", id="not-an-object"),
        pytest.param("", "expected a JSON object like", id="empty-body"),
        pytest.param(json.dumps({"image": IMAGE}), "service must be a non-empty string",
                     id="no-service"),
        pytest.param(json.dumps({"service": "fop-gate", "image": 7}),
                     "image must be a non-empty string", id="image-not-a-string"),
        pytest.param(json.dumps({"service": "fop-gate", "image": IMAGE, "tag": "x"}),
                     "unknown field 'tag'", id="unknown-field"),
        pytest.param(json.dumps({"service": "fop-gat", "image": IMAGE}),
                     "unknown service 'fop-gat' (did you mean: fop-gate?)", id="unknown-service"),
        pytest.param(json.dumps({"service": "fop-gate", "image": "reg/fop-gate:latest"}),
                     "image 'reg/fop-gate:latest' is not pinned", id="unpinned-image"),
        pytest.param(json.dumps({"service": "fop-gate", "image": "Reg/App:1"}),
                     "bad image reference 'Reg/App:1'", id="malformed-image"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_with_a_json_error_and_records_nothing(
    api: Api, redis_client: redis.Redis, body: str, error: str
) -> None:
    answer = api.request("POST", "/api/candidates", body)

    assert answer.status == 400
    assert error in answer.body["error"]
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert redis_client.keys("canarybot:candidate*") == []


@pytest.mark.parametrize(
    ("token", "headers"),
    [
        pytest.param(None, {}, id="no-authorization"),
        pytest.param("not-the-token", {}, id="wrong-token"),
        pytest.param(None, {"Authorization": f"Basic {TOKEN}"}, id="not-a-bearer-token"),
        pytest.param(None, {"Authorization": "Bearer "}, id="empty-bearer"),
    ],
)
def test_without_the_right_token_it_is_a_401_and_records_nothing(
    api: Api, redis_client: redis.Redis, token: str | None, headers: dict[str, str]
) -> None:
    answer = api.record({"service": "fop-gate", "image": IMAGE}, token=token, headers=headers)

    assert answer.status == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert redis_client.keys("canarybot:candidate*") == []


def test_without_a_configured_token_the_api_is_a_503(
    serve_api: Callable[[str | None], Api], redis_client: redis.Redis
) -> None:
    answer = serve_api(None).record({"service": "fop-gate", "image": IMAGE})

    assert answer.status == 503
    assert answer.body == {"error": "not configured: set CANARYBOT_API_TOKEN to enable the API"}
    assert redis_client.keys("canarybot:candidate*") == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/api/candidates", 405, id="get-candidates"),
        pytest.param("POST", "/api/releases", 404, id="another-endpoint"),
        pytest.param("POST", "/slack/events", 404, id="outside-the-api"),
    ],
)
def test_other_paths_and_methods_are_refused(api: Api, method: str, path: str, status: int) -> None:
    answer = api.request(method, path, "{}")
    assert answer.status == status
    assert answer.body["error"]


def test_a_body_over_16_kib_is_a_413(api: Api) -> None:
    answer = api.request("POST", "/api/candidates", "x" * (16 * 1024 + 1))
    assert answer.status == 413
