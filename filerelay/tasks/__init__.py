"""The Celery side: the app factory and thin tasks (:mod:`~filerelay.tasks.app`), sending them
(:mod:`~filerelay.tasks.publisher`), the worker's signal handlers (:mod:`~filerelay.tasks.signals`).

``celery -A filerelay.tasks worker`` works: the ``app`` attribute is built on first access from
``FILERELAY_*`` settings (PEP 562 module ``__getattr__``), never at import.
"""

from __future__ import annotations

from typing import Any

from filerelay.tasks.app import make_celery
from filerelay.tasks.publisher import CeleryPublisher

__all__ = ["CeleryPublisher", "make_celery"]

_app: Any = None


def __getattr__(name: str) -> Any:
    global _app
    if name in {"app", "celery"}:
        if _app is None:
            from celery import signals

            from filerelay.logs import configure_logging, register_secrets
            from filerelay.redaction import secrets_in
            from filerelay.settings import load_settings

            settings = load_settings()
            configure_logging(settings.log_format, settings.log_level)
            register_secrets(secrets_in(settings))

            @signals.setup_logging.connect(weak=False)
            def _logging(**_: Any) -> None:  # FILERELAY_LOG_* rule, not celery's --loglevel
                configure_logging(settings.log_format, settings.log_level)

            _app = make_celery(settings)
        return _app
    raise AttributeError(name)
