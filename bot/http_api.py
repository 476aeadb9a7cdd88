"""The HTTP API for pipelines: ``POST /api/candidates`` records a release candidate.

A plain WSGI callable, served by the same waitress server as Slack's requests in HTTP mode
(:func:`with_api` mounts it under ``/api/``), and on its own in Socket Mode. Pipelines
authenticate with ``Authorization: Bearer <CANARYBOT_API_TOKEN>``; every answer is JSON.

    curl -X POST https://canarybot.example.com/api/candidates \\
         -H "Authorization: Bearer $CANARYBOT_API_TOKEN" \\
         -d '{"service": "fop-gate", "image": "reg/fop-gate:2026-11-22"}'

201 with the candidate; 400 bad JSON, unknown service or bad image; 401 a missing or wrong
token; 404 and 405 for other paths and methods; 413 a body over 16 KiB; 503 when no token is
configured, or Redis cannot be reached.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis

from bot.candidates import Candidate, CandidateStore, next_nightly
from bot.health import PATHS as HEALTH_PATHS
from bot.images import BadImageError
from bot.registry import Registry, UnknownService
from bot.wsgi_json import json_response

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
CANDIDATES = "/api/candidates"
MAX_BODY = 16 * 1024
_MAX_BY = 100


class _Answer(Exception):  # noqa: N818 -- not an error: the answer, raised out of the parsing
    """An answer other than success, with its JSON error text."""

    def __init__(self, status: int, error: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.headers = list(headers)


class CandidatesApi:
    """``POST /api/candidates``: a pipeline records a release candidate."""

    def __init__(
        self,
        candidates: CandidateStore,
        registry: Registry,
        *,
        token: str | None,
        clock: Callable[[], datetime],
    ) -> None:
        """Record into `candidates`; accept requests bearing `token` (None: answer 503)."""
        self._candidates = candidates
        self._registry = registry
        self._token = token.encode() if token else None
        self._clock = clock

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request."""
        try:
            status, body = 201, self._record(environ)
            headers: list[tuple[str, str]] = []
        except _Answer as answer:
            status, body, headers = answer.status, {"error": answer.error}, answer.headers
        except redis.RedisError as err:
            log.warning("could not record a candidate: %s", err)
            status, body, headers = 503, {"error": "Redis is unreachable; try again"}, []
        except Exception:
            log.exception("the candidates API failed")
            status, body, headers = 500, {"error": "internal error"}, []
        return json_response(start_response, status, body, headers)

    def _record(self, environ: WSGIEnvironment) -> dict[str, Any]:
        path = environ.get("PATH_INFO") or ""
        if path.rstrip("/") != CANDIDATES:
            raise _Answer(404, f"no such endpoint {path}; use POST {CANDIDATES}")
        if environ.get("REQUEST_METHOD") != "POST":
            raise _Answer(405, f"use POST {CANDIDATES}", [("Allow", "POST")])
        if self._token is None:
            raise _Answer(503, "not configured: set CANARYBOT_API_TOKEN to enable the API")
        self._authenticate(environ)
        service, image, by = _fields(_body(environ))
        try:
            candidate = self._candidates.record(service, image, by=by, at=self._clock())
        except (UnknownService, BadImageError) as err:
            raise _Answer(400, str(err)) from err
        return self._shown(candidate)

    def _authenticate(self, environ: WSGIEnvironment) -> None:
        scheme, _, given = str(environ.get("HTTP_AUTHORIZATION") or "").partition(" ")
        challenge = [("WWW-Authenticate", 'Bearer realm="canarybot"')]
        if scheme.lower() != "bearer" or not given.strip():
            raise _Answer(401, "send Authorization: Bearer <token>", challenge)
        assert self._token is not None
        if not hmac.compare_digest(given.strip().encode(), self._token):
            raise _Answer(401, "wrong token", challenge)

    def _shown(self, candidate: Candidate) -> dict[str, Any]:
        nightly = next_nightly(self._registry.get(candidate.service), now=self._clock())
        return {
            "service": candidate.service,
            "image": candidate.image,
            "recorded_by": candidate.recorded_by,
            "recorded_at": candidate.recorded_at.isoformat(),
            "released_at": candidate.released_at.isoformat() if candidate.released_at else None,
            "nightly_at": nightly.isoformat() if nightly is not None else None,
        }


def with_api(api: WSGIApplication, other: WSGIApplication) -> WSGIApplication:
    """One WSGI app: paths under ``/api/`` go to `api`, everything else to `other`."""

    def route(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO") or "")
        chosen = api if path.startswith(API_PREFIX) or path == API_PREFIX.rstrip("/") else other
        return chosen(environ, start_response)

    return route


def with_health(health: WSGIApplication, other: WSGIApplication) -> WSGIApplication:
    """One WSGI app: ``/healthz``, ``/readyz`` and ``/metrics`` go to `health`, the rest to
    `other`."""

    def route(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        chosen = health if str(environ.get("PATH_INFO") or "") in HEALTH_PATHS else other
        return chosen(environ, start_response)

    return route


def not_found(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """What a path outside the API gets where only the API is served (Socket Mode)."""
    error = f"not found; this port serves {API_PREFIX}…, /healthz, /readyz and /metrics only"
    return json_response(start_response, 404, {"error": error}, [])


def _body(environ: WSGIEnvironment) -> object:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError as err:
        raise _Answer(400, "bad Content-Length") from err
    if length > MAX_BODY:
        raise _Answer(413, f"the body is {length:,} bytes: at most {MAX_BODY:,}")
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise _Answer(400, f"expected a JSON object like {_EXAMPLE}: {err}") from err


_EXAMPLE = '{"service": "fop-gate", "image": "reg/fop-gate:2026-11-22"}'


def _fields(data: object) -> tuple[str, str, str]:
    if not isinstance(data, dict):
        raise _Answer(400, f"expected a JSON object like {_EXAMPLE}")
    unknown = sorted(set(data) - {"service", "image", "by"})
    if unknown:
        raise _Answer(400, f"unknown field {unknown[0]!r}: send service, image and maybe by")
    service, image, by = _text(data, "service"), _text(data, "image"), _text(data, "by", "api")
    if len(by) > _MAX_BY:
        raise _Answer(400, f"by takes at most {_MAX_BY} characters")
    return service, image, by


def _text(data: dict[Any, Any], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise _Answer(400, f"{name} must be a non-empty string, e.g. {_EXAMPLE}")
    return value
