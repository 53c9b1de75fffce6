"""The ``/metrics`` HTTP endpoint: prometheus_client's WSGI server on a daemon thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import start_http_server
from prometheus_client.registry import Collector

from filerelay.errors import UsageError

log = structlog.get_logger("filerelay.metrics")


class MetricsPortError(UsageError):
    """The metrics port cannot be bound (in use, or not allowed)."""


@dataclass
class MetricsServer:
    """A running exposition server; :meth:`stop` closes its socket."""

    httpd: Any
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close_inherited(self) -> None:
        """In a forked child: close this process's copy of the listening socket (the parent
        keeps serving; a child must not hold the port)."""
        self.httpd.socket.close()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(registry: Collector, host: str, port: int) -> MetricsServer:
    """Serve ``registry`` at ``http://host:port/metrics``; a port that cannot be bound raises
    :class:`MetricsPortError` (one line, no traceback, exit 2)."""
    try:
        httpd, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise MetricsPortError(
            f"cannot serve metrics on {host}:{port}: {reason} "
            "(choose another --metrics-port / FILERELAY_METRICS_PORT)"
        ) from None
    server = MetricsServer(httpd, host, int(httpd.server_address[1]))
    log.info("metrics_serving", url=server.url)
    return server
