"""Senders shared by the ``notify``/``webhook`` actions and the alert channels.

``http`` is the one HTTP layer (sessions, one bounded exchange, status and error translation);
``dingtalk``, ``slack`` and ``mail`` send a message on one channel each; ``signing`` holds the
Standard Webhooks signatures. Everything here takes plain values (a URL, a text, a secret, a
session, an SMTP server), never an action's context, and imports neither ``filerelay.actions``
nor ``filerelay.config``.
"""
