"""``filerelay serve``: the HTTP API (and the web console, at ``/console/``) on uvicorn.

:func:`web_app` is the composition root uvicorn serves; ``filerelay run`` serves the same
app in a thread (:func:`start_api`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import typer

from filerelay.cli.common import CONFIG_OPTION, load_checked, run_guarded, settings_for
from filerelay.errors import UsageError
from filerelay.settings import Settings

if TYPE_CHECKING:  # the web stack is imported when an API is served, not by every command
    import uvicorn
    from fastapi import FastAPI

    from filerelay.ops.deployment import Deployment

log = structlog.get_logger("filerelay.cli")

#: how long a stopping server waits for open requests (an SSE stream never ends by itself)
GRACEFUL_S = 3


def web_app(settings: Settings, dep: Deployment | None = None) -> FastAPI:
    """The app ``serve`` and ``run`` serve: the API (the console is mounted here too)."""
    from filerelay.api import create_app
    from filerelay.console import mount as mount_console

    return mount_console(create_app(settings, dep))


def uvicorn_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """uvicorn's config for the settings: TLS when a certificate is set; forwarded headers
    trusted only from API_FORWARDED_ALLOW_IPS."""
    import uvicorn

    if bool(settings.api_tls_cert) != bool(settings.api_tls_key):
        raise UsageError("FILERELAY_API_TLS_CERT and FILERELAY_API_TLS_KEY go together")
    kwargs: dict[str, Any] = {}
    if settings.api_tls_cert and settings.api_tls_key:
        kwargs.update(
            ssl_certfile=str(settings.api_tls_cert), ssl_keyfile=str(settings.api_tls_key)
        )
    trusted = settings.api_forwarded_allow_ips
    return uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or "",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_S,
        log_level="warning",  # uvicorn's start-up chatter; filerelay says where it serves
        **kwargs,
    )


def api_url(settings: Settings) -> str:
    """The base URL the API answers on."""
    scheme = "https" if settings.api_tls_cert else "http"
    host = settings.api_host if settings.api_host not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"{scheme}://{host}:{settings.api_port}"


def serve(
    config: Path | None = CONFIG_OPTION,
    host: str | None = typer.Option(None, "--host", help="Bind address (default 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", help="Port (default 8700)."),
) -> None:
    """Serve the HTTP API over the deployment's store, broker and config (stateless: run
    several behind a load balancer).

    Example: filerelay serve --config pipeline.yaml --host 0.0.0.0 --port 8700
    """
    settings = settings_for(config, api_host=host, api_port=port)
    if settings.config is not None:
        load_checked(settings, check_paths=False)
    import uvicorn

    from filerelay.ops.deployment import Deployment

    dep = run_guarded(lambda: Deployment.open(settings))
    server = uvicorn.Server(run_guarded(lambda: uvicorn_config(web_app(settings, dep), settings)))
    log.info("api_serving", url=api_url(settings))
    server.run()


def start_api(settings: Settings, stop: threading.Event) -> Deployment:
    """Serve the API in a thread until ``stop`` is set (``filerelay run``); the deployment
    it serves."""
    import uvicorn

    from filerelay.ops.deployment import Deployment

    dep = Deployment.open(settings)
    server = uvicorn.Server(uvicorn_config(web_app(settings, dep), settings))

    def run_server() -> None:
        try:
            server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; the rest of `run` goes on
            log.error("api_not_served", address=f"{settings.api_host}:{settings.api_port}")
        finally:
            dep.close()

    def stop_server() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=run_server, name="api", daemon=True).start()
    threading.Thread(target=stop_server, name="api-stopper", daemon=True).start()
    return dep
