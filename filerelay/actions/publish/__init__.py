"""The ``publish`` action: the file's message to a broker (AMQP/Redis via kombu, MQTT, NATS).

``action`` holds the action; ``common`` what the transports share; ``via_kombu``,
``via_mqtt`` and ``via_nats`` one transport each, their SDK imported only when used.
"""

from filerelay.actions.publish.action import PublishAction, PublishConfig

__all__ = ["PublishAction", "PublishConfig"]
