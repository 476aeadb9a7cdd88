"""The JSON answer of the bot's small WSGI apps (the candidates API, the health endpoints)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsgiref.types import StartResponse


def status_line(status: int) -> str:
    """``503 Service Unavailable``: what WSGI's start_response takes."""
    return f"{status} {HTTPStatus(status).phrase}"


def json_response(
    start_response: StartResponse,
    status: int,
    body: dict[str, Any],
    headers: Sequence[tuple[str, str]] = (),
) -> list[bytes]:
    """Answer `status` with `body` as JSON, and `headers` besides."""
    payload = json.dumps(body).encode()
    start_response(
        status_line(status),
        [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(payload))),
            *headers,
        ],
    )
    return [payload]
