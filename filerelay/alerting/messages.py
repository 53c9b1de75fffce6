"""The alert message: one per rule and channel, listing every instance it is about.

The same :class:`Alert` renders as a title and plain text (chat robots, e-mail) and as JSON
(the generic webhook)::

    [FIRING:2] uploads-failing (failure_rate)
    - route=video: 6 of 10 events failed (60%) in the last 15m (threshold 20%)  since 04:31:07Z
    - route=docs: ...
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

FIRING, RESOLVED, TEST = "firing", "resolved", "test"


@dataclass(frozen=True)
class Alert:
    """What one send says: a rule's firing (or resolved) instances, at ``now``."""

    rule: str
    kind: str
    status: str
    instances: list[dict[str, Any]]
    now: datetime
    escalated: bool = False

    @property
    def title(self) -> str:
        head = {FIRING: f"[FIRING:{len(self.instances)}]", RESOLVED: "[RESOLVED]"}.get(
            self.status, "[TEST]"
        )
        prefix = "[ESCALATED] " if self.escalated else ""
        return f"{prefix}{head} {self.rule} ({self.kind})"

    @property
    def text(self) -> str:
        lines = [self.title]
        for inst in self.instances:
            since = inst.get("firing_since")
            when = f"  since {since:%Y-%m-%d %H:%M:%SZ}" if isinstance(since, datetime) else ""
            lines.append(f"- {inst.get('summary') or inst['instance']}{when}")
        if self.status == TEST:
            lines.append("A test message from filerelay: this channel works.")
        return "\n".join(lines)

    def payload(self) -> dict[str, Any]:
        """The generic webhook's JSON body."""
        return {
            "source": "filerelay",
            "status": self.status,
            "rule": self.rule,
            "kind": self.kind,
            "escalated": self.escalated,
            "title": self.title,
            "text": self.text,
            "sent_at": self.now.isoformat(),
            "instances": [
                {
                    "key": inst["instance"],
                    "labels": inst.get("labels") or {},
                    "value": inst.get("value"),
                    "summary": inst.get("summary"),
                    "firing_since": _iso(inst.get("firing_since")),
                    "resolved_at": _iso(inst.get("resolved_at")),
                }
                for inst in self.instances
            ],
        }


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def test_alert(now: datetime) -> Alert:
    """What ``filerelay alerts test`` sends."""
    inst = {"instance": "test", "summary": "test: filerelay alert channel check"}
    return Alert("channel-test", "test", TEST, [inst], now)
