"""``filerelay flower``: Flower, the Celery web monitor, on the configured broker."""

from __future__ import annotations

import typer

from filerelay.cli.common import settings_for
from filerelay.ops.control import run_flower
from filerelay.tasks import make_celery


def flower(
    port: int = typer.Option(5555, "--port", help="HTTP port."),
    address: str = typer.Option(
        "127.0.0.1",
        "--address",
        help="Address to listen on; without FILERELAY_FLOWER_BASIC_AUTH always 127.0.0.1.",
    ),
) -> None:
    """Start Flower, the Celery web monitor, on the configured broker.

    Basic auth from FILERELAY_FLOWER_BASIC_AUTH=user:pass; without it Flower is bound to
    127.0.0.1 only, with a warning. Task arguments show the event id, source and path.

    Example: FILERELAY_FLOWER_BASIC_AUTH=ops:secret filerelay flower --port 5555
    """
    settings = settings_for(None)
    run_flower(settings, make_celery(settings), port, address)
