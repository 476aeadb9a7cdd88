"""A small HTTP server served from a background thread, started and stopped as a context."""

from __future__ import annotations

import threading
from http.server import HTTPServer
from types import TracebackType
from typing import Self


class ServedInThread:
    """Start/stop (and `with`) for a class that sets `_http`, its server, in `__init__`."""

    _http: HTTPServer
    _thread: threading.Thread | None = None
    thread_name = "http"

    def start(self) -> Self:
        """Serve in a background thread; returns self."""
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.thread_name}-{self._http.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._http.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
