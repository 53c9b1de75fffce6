"""Signed task messages, for a broker that others can publish to.

With a message key (``FILERELAY_MESSAGE_KEY`` or ``FILERELAY_MESSAGE_KEY_FILE``) every message
an app sends carries ``filerelay_signature``: an HMAC-SHA256, under the key, of the task name
and the message body (arguments, keyword arguments and the callbacks Celery would run after
it). A worker with the key checks it when the message arrives, before anything else: an
unsigned or badly signed message is refused — logged, acknowledged and dropped, never run.
Without a key nothing is signed or checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import structlog
from celery.app.amqp import AMQP
from celery.worker.request import Request
from celery.worker.state import task_ready

log = structlog.get_logger("filerelay.tasks")

HEADER = "filerelay_signature"


def signature(key: bytes, task: str, body: Any) -> str:
    """The signature of a message: HMAC-SHA256 of ``task`` and the body's canonical JSON."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(key, f"{task}\n{canonical}".encode(), hashlib.sha256).hexdigest()


class SigningAMQP(AMQP):  # type: ignore[misc]
    """Celery's message factory, signing each task message with the app's message key."""

    def as_task_v2(self, task_id: str, name: str, *args: Any, **kwargs: Any) -> Any:
        message = super().as_task_v2(task_id, name, *args, **kwargs)
        key: bytes | None = getattr(self.app, "filerelay_message_key", None)
        if key is not None:
            message.headers[HEADER] = signature(key, name, message.body)
        return message


class VerifiedRequest(Request):  # type: ignore[misc]
    """A task request that refuses, before it runs, a message not signed with the key."""

    _refusal: str | None = None
    _checked = False

    def revoked(self) -> bool:
        # Celery asks this first, before a message goes to the pool (and again later)
        if not self._checked:
            self._checked = True
            self._refusal = self._check()
            if self._refusal is not None:
                self._refuse()
        return self._refusal is not None or bool(super().revoked())

    def _check(self) -> str | None:
        key: bytes | None = getattr(self.task.app, "filerelay_message_key", None)
        if key is None:
            return None
        given = (self._message.headers or {}).get(HEADER)
        if not isinstance(given, str):
            return "unsigned"
        try:
            body = json.loads(self._message.body)
        except (TypeError, ValueError):
            return "undecodable"
        if not hmac.compare_digest(given, signature(key, self.task_name, body)):
            return "bad signature"
        return None

    def _refuse(self) -> None:
        log.error("message_refused", task=self.task_name, task_id=self.id, reason=self._refusal)
        task_ready(self)
        self.reject(requeue=False)
