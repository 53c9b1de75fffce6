"""The action registry: a name -> ``module:Class`` table, loaded lazily.

Built-in actions are listed in :data:`BUILTIN_ACTIONS`; third-party ones come from the
``filerelay.actions`` entry-point group. Tests build their own :class:`Registry`.
Action modules import their SDK (boto3, pika, ...) inside functions, so loading a module to get
its config model stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from filerelay.actions.base import Action

BUILTIN_ACTIONS: dict[str, str] = {
    "s3": "filerelay.actions.s3.action:S3Action",
    "copy": "filerelay.actions.fs.copy:CopyAction",
    "move": "filerelay.actions.fs.move:MoveAction",
    "delete": "filerelay.actions.fs.delete:DeleteAction",
    "webhook": "filerelay.actions.webhook.action:WebhookAction",
    "publish": "filerelay.actions.publish.action:PublishAction",
    "script": "filerelay.actions.script:ScriptAction",
    "notify": "filerelay.actions.notify:NotifyAction",
    "archive": "filerelay.actions.fs.archive:ArchiveAction",
}
ENTRY_POINT_GROUP = "filerelay.actions"


class Registry:
    """Maps action names to action classes."""

    def __init__(self, table: Mapping[str, str | type[Action[Any]]]) -> None:
        self._table: dict[str, str | type[Action[Any]]] = dict(table)
        self._loaded: dict[str, type[Action[Any]]] = {}

    @classmethod
    def with_entry_points(cls, table: Mapping[str, str] | None = None) -> Registry:
        merged: dict[str, str | type[Action[Any]]] = dict(table or BUILTIN_ACTIONS)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            merged.setdefault(ep.name, ep.value)
        return cls(merged)

    def names(self) -> list[str]:
        return sorted(self._table)

    def get(self, name: str) -> type[Action[Any]]:
        if name not in self._loaded:
            target = self._table[name]
            if isinstance(target, str):
                module_name, _, attr = target.partition(":")
                target = getattr(importlib.import_module(module_name), attr)
            if not isinstance(target, type) or not issubclass(target, Action):
                raise TypeError(f"action {name!r} ({self._table[name]!r}) is not an Action class")
            self._loaded[name] = target
        return self._loaded[name]


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """Built-in actions plus installed plugins (cached per process)."""
    return Registry.with_entry_points()
