"""Alerts as the operator handles them: rule states with each instance's acknowledgement or
silence, the history of sends, ack and silence, and the config file's ``alerts:`` section
read (secrets masked) and replaced (a new config version, validated first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

from ruamel.yaml import YAML

from filerelay.alerting.repo import AlertStore
from filerelay.alerting.service import rule_states
from filerelay.config.stored import masked_config_text
from filerelay.config.yamlsrc import parse_yaml
from filerelay.errors import ConfigError, NotFoundError, UsageError
from filerelay.ops import config as ops_config
from filerelay.ops.audit import Actor, audited
from filerelay.ops.deployment import Deployment
from filerelay.ops.inputs import parse_age
from filerelay.store.db import as_utc, utcnow

HISTORY = timedelta(days=7)
MAX_HISTORY = 200


def alerts_view(dep: Deployment) -> dict[str, Any]:
    """``{rules: [...], history: [...]}``: each rule's state (instances with ack/silence, and
    what the evaluator last measured) and the recent sends, newest first."""
    loaded = dep.config()
    store = AlertStore(dep.store.engine)
    rules: list[dict[str, Any]] = []
    if loaded is not None and loaded.model.alerts is not None:
        acks = dep.control.acks()
        measures = store.measures()
        now = datetime.now(UTC)
        for rule in rule_states(loaded.model.alerts, store):
            rule["measure"] = measures.get(rule["rule"])
            for inst in rule["instances"]:
                ack = acks.get((rule["rule"], inst["instance"]), {})
                until = ack.get("silenced_until")
                inst["acked_by"] = ack.get("acked_by")
                inst["acked_at"] = ack.get("acked_at")
                inst["silenced_until"] = until if until and as_utc(until) > now else None
            rules.append(rule)
    sent = store.notifications(utcnow() - HISTORY)[-MAX_HISTORY:]
    return {"rules": rules, "history": list(reversed(sent))}


def _instances(dep: Deployment, rule: str, instance: str | None) -> list[str]:
    view = alerts_view(dep)
    for state in view["rules"]:
        if state["rule"] == rule:
            names = [i["instance"] for i in state["instances"]]
            if instance is None:
                return names
            if instance in names:
                return [instance]
            raise NotFoundError(f"rule {rule!r} has no instance {instance!r} now")
    raise NotFoundError(f"no alert rule {rule!r}")


def ack(dep: Deployment, actor: Actor, rule: str, instance: str | None) -> list[str]:
    """Acknowledge the rule's instances (or one); the instances acknowledged."""
    with audited(dep.control, actor, "alerts.ack", rule, {"instance": instance}):
        names = _instances(dep, rule, instance)
        for name in names:
            dep.control.set_ack(rule, name, {"acked_by": actor.name, "acked_at": utcnow()})
    return names


def silence(
    dep: Deployment, actor: Actor, rule: str, instance: str | None, duration: str
) -> list[str]:
    """Send nothing for the rule's instances (or one) for ``duration``."""
    length = parse_age(duration, "duration")
    params = {"instance": instance, "duration": duration}
    with audited(dep.control, actor, "alerts.silence", rule, params):
        names = _instances(dep, rule, instance)
        until = utcnow() + length
        for name in names:
            dep.control.set_ack(rule, name, {"silenced_by": actor.name, "silenced_until": until})
    return names


def alerts_section(dep: Deployment) -> str:
    """The config file's ``alerts:`` section as YAML, secrets masked ('' when none)."""
    path = ops_config.config_path(dep.settings)
    data = parse_yaml(path.read_text(encoding="utf-8"), str(path)).data
    section = data.get("alerts") if isinstance(data, dict) else None
    if section is None:
        return ""
    return masked_config_text(_dump({"alerts": section}))


def replace_alerts(dep: Deployment, actor: Actor, text: str) -> int:
    """Replace the ``alerts:`` section of the config file by ``text`` (YAML of the section,
    with or without the ``alerts:`` key): validated, applied as a new version."""
    try:
        new = parse_yaml(text, "alerts.yaml").data
    except ConfigError:
        raise
    if isinstance(new, dict) and set(new) == {"alerts"}:
        new = new["alerts"]
    if not isinstance(new, dict):
        raise UsageError("text: the alerts section must be a mapping (interval, channels, rules)")
    path = ops_config.config_path(dep.settings)
    yaml = YAML()
    doc = yaml.load(path.read_text(encoding="utf-8"))
    doc["alerts"] = new
    out = StringIO()
    yaml.dump(doc, out)
    with audited(dep.control, actor, "alerts.config", str(path)):
        return ops_config.apply(dep.settings, dep.control, out.getvalue(), actor.name, "alerts")


def _dump(data: Any) -> str:
    out = StringIO()
    YAML(typ="safe", pure=True).dump(data, out)
    return out.getvalue()
