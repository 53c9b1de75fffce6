"""The ``webhook`` action: the file's CloudEvent (or a custom JSON body) to an HTTP endpoint.

``action`` holds the action; ``cloudevent`` the message shared with ``publish``;
``multipart`` the streamed ``multipart/form-data`` body.
"""

from filerelay.actions.webhook.action import WebhookAction, WebhookConfig

__all__ = ["WebhookAction", "WebhookConfig"]
