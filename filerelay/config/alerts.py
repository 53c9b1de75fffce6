"""The ``alerts:`` section: named channels, and rules evaluated from the store every interval.

::

    alerts:
      interval: 15s
      channels:
        ops-chat: {type: slack, webhook_url: "${SLACK_WEBHOOK}"}
        oncall:   {type: email, connection: mail, to: [oncall@example.com]}
      rules:
        - name: uploads-failing
          kind: failure_rate
          by: route
          window: 15m
          threshold: 0.2
          channels: [ops-chat]
          escalate_after: 30m
          escalate_to: [oncall]

Channels are chosen by ``type``, rules by ``kind``; both are strict (unknown keys refused).
Which channel names a rule may use is checked in :mod:`filerelay.config.semantics`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from filerelay.config.types import DurationS

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _http_url(value: SecretStr) -> SecretStr:
    # the URL carries a token: the message never echoes it
    text = value.get_secret_value()
    if not text.lower().startswith(("http://", "https://")):
        raise ValueError("the url must start with http:// or https://")
    return value


HttpUrlSecret = Annotated[SecretStr, AfterValidator(_http_url)]


class ChannelBase(Strict):
    timeout: DurationS = Field(10.0, gt=0, description="Time limit of one send.")


class DingTalkAlertChannel(ChannelBase):
    """A DingTalk group custom robot (signed mode when ``secret`` is set)."""

    type: Literal["dingtalk"] = Field(description="Channel type.")
    webhook_url: HttpUrlSecret = Field(
        description="The robot's webhook URL with its access_token (use ${ENV})."
    )
    secret: SecretStr | None = Field(None, description="The robot's signing secret ('SEC...').")
    at_mobiles: list[str] = Field([], description="Mobile numbers to @-mention.")
    at_all: bool = Field(False, description="@-mention everyone in the group.")


class SlackAlertChannel(ChannelBase):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, ...)."""

    type: Literal["slack"] = Field(description="Channel type.")
    webhook_url: HttpUrlSecret = Field(description="The incoming webhook URL (use ${ENV}).")
    username: str | None = Field(None, description="Display name override.")
    icon_emoji: str | None = Field(None, description="Icon override, e.g. ':rotating_light:'.")


class WebhookAlertChannel(ChannelBase):
    """A generic webhook: the alert as JSON, POSTed; signed (Standard Webhooks) with ``secret``."""

    type: Literal["webhook"] = Field(description="Channel type.")
    url: HttpUrlSecret = Field(description="Endpoint URL (may embed a token: use ${ENV}).")
    secret: SecretStr | list[SecretStr] | None = Field(
        None,
        description="HMAC-SHA256 signing secret ('whsec_<base64>' or a plain string): adds "
        "webhook-id, webhook-timestamp and webhook-signature headers; a list signs with "
        "each (secret rotation: a receiver holding any one of them verifies).",
    )
    headers: dict[str, str] = Field({}, description="Extra request headers.")

    @field_validator("secret")
    @classmethod
    def _some_secret(cls, value: SecretStr | list[SecretStr] | None) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("give at least one secret, or leave 'secret' out")
        return value

    def secret_values(self) -> list[str]:
        """The configured signing secrets in clear, in order (none when unsigned)."""
        if isinstance(self.secret, list):
            return [item.get_secret_value() for item in self.secret]
        return [self.secret.get_secret_value()] if self.secret is not None else []


class EmailAlertChannel(ChannelBase):
    """E-mail through an ``smtp`` connection under ``connections``."""

    type: Literal["email"] = Field(description="Channel type.")
    connection: str = Field(description="Name of an smtp connection under 'connections'.")
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    cc: list[str] = Field([], description="Carbon-copy addresses.")


AlertChannel = Annotated[
    Union[  # noqa: UP007
        DingTalkAlertChannel, SlackAlertChannel, WebhookAlertChannel, EmailAlertChannel
    ],
    Field(discriminator="type"),
]
CHANNEL_MODELS = (DingTalkAlertChannel, SlackAlertChannel, WebhookAlertChannel, EmailAlertChannel)


class RuleBase(Strict):
    """Keys every alert rule has beside its kind's parameters."""

    name: str = Field(pattern=NAME_PATTERN, description="Unique rule name.")
    channels: list[str] = Field(min_length=1, description="Channels (names) told when it fires.")
    repeat_interval: DurationS = Field(
        3600.0, gt=0, description="While still firing, tell the channels again at most this often."
    )
    for_s: DurationS = Field(
        0.0,
        ge=0,
        alias="for",
        description="Pending time: the condition must hold this long before the rule fires.",
    )
    escalate_after: DurationS | None = Field(
        None, gt=0, description="Still firing after this long: also tell 'escalate_to'."
    )
    escalate_to: list[str] = Field([], description="Channels (names) told on escalation.")

    @model_validator(mode="after")
    def _escalation(self) -> RuleBase:
        if (self.escalate_after is None) != (not self.escalate_to):
            raise ValueError("escalate_after and escalate_to go together")
        return self


class FailureRateRule(RuleBase):
    """Share of failed events (or steps) finished within ``window`` above ``threshold``."""

    kind: Literal["failure_rate"] = Field(description="Rule kind.")
    over: Literal["events", "steps"] = Field("events", description="Count events or steps.")
    by: Literal["all", "route", "source"] = Field(
        "all", description="One instance for all, or one per route or per source."
    )
    window: DurationS = Field(900.0, gt=0, description="Look-back window.")
    threshold: float = Field(gt=0, le=1, description="Failed share that fires, e.g. 0.2.")
    min_events: int = Field(10, ge=1, description="Fewer finished in the window: never fires.")


class BacklogRule(RuleBase):
    """The broker queue deeper than ``max_queue_depth``, or the oldest pending event older
    than ``max_pending_age``."""

    kind: Literal["backlog"] = Field(description="Rule kind.")
    max_queue_depth: int | None = Field(None, ge=0, description="Messages in the queue above this.")
    max_pending_age: DurationS | None = Field(
        None, gt=0, description="Oldest queued or processing event older than this."
    )

    @model_validator(mode="after")
    def _one_limit(self) -> BacklogRule:
        if self.max_queue_depth is None and self.max_pending_age is None:
            raise ValueError("give max_queue_depth and/or max_pending_age")
        return self


class AgentOfflineRule(RuleBase):
    """A watcher or worker whose last heartbeat is older than ``after`` (and not stopped)."""

    kind: Literal["agent_offline"] = Field(description="Rule kind.")
    after: DurationS = Field(90.0, gt=0, description="Heartbeat silence that fires.")
    role: Literal["watcher", "worker"] | None = Field(None, description="Only this role.")
    labels: dict[str, str] = Field(
        {},
        description="Only agents with these labels (a group of hosts, e.g. {site: sh}); each "
        "instance names the agent's host (its agent id) and labels.",
    )
    forget_after: DurationS = Field(
        86400.0, gt=0, description="An agent silent this long is forgotten (the alert resolves)."
    )


class SilentSourceRule(RuleBase):
    """No file from a source for ``after`` (a silent source is often the real incident)."""

    kind: Literal["silent_source"] = Field(description="Rule kind.")
    sources: list[str] = Field([], description="Source names; empty: every configured source.")
    after: DurationS = Field(gt=0, description="Silence that fires, e.g. 2h.")


class CompensationFailuresRule(RuleBase):
    """Pipelines ending ``compensation_failed`` within ``window`` (per route)."""

    kind: Literal["compensation_failures"] = Field(description="Rule kind.")
    window: DurationS = Field(3600.0, gt=0, description="Look-back window.")
    threshold: int = Field(1, ge=1, description="This many or more fire.")


class LatencySloRule(RuleBase):
    """A percentile of end-to-end latency (detected to finished, succeeded events) over
    ``window`` above ``max_latency``."""

    kind: Literal["latency_slo"] = Field(description="Rule kind.")
    by: Literal["all", "route", "source"] = Field(
        "all", description="Instances: all, per route or source."
    )
    window: DurationS = Field(900.0, gt=0, description="Look-back window.")
    percentile: float = Field(95.0, gt=0, le=100, description="Which percentile, e.g. 95.")
    max_latency: DurationS = Field(gt=0, description="Limit of that percentile, e.g. 5m.")
    min_events: int = Field(1, ge=1, description="Fewer succeeded in the window: never fires.")


class BreakerOpenRule(RuleBase):
    """A destination's circuit breaker open (or half-open: probing) — its steps are waiting."""

    kind: Literal["breaker_open"] = Field(description="Rule kind.")
    destinations: list[str] = Field(
        [],
        description="Destinations as 'filerelay breakers' names them (e.g. "
        "'connection:s3-main', 'host:hooks.example'); empty: every one.",
    )


class AnomalyRule(RuleBase):
    """Files, bytes or failure rate of the last complete hour far from the same hour of the
    week in the last ``weeks`` weeks (median and MAD)."""

    kind: Literal["anomaly"] = Field(description="Rule kind.")
    metric: Literal["files", "bytes", "failure_rate"] = Field("files", description="Measured.")
    by: Literal["all", "source", "route"] = Field("source", description="Instances.")
    direction: Literal["spike", "drop", "both"] = Field("both", description="Which side fires.")
    threshold: float = Field(6.0, gt=0, description="Robust deviations (scaled MAD) that fire.")
    weeks: int = Field(4, ge=1, le=12, description="Weeks of baseline.")
    min_weeks: int = Field(2, ge=1, description="Fewer weeks of history: never fires.")
    min_events: int = Field(20, ge=1, description="failure_rate: fewer files in the hour: ignored.")

    @model_validator(mode="after")
    def _history(self) -> AnomalyRule:
        if self.min_weeks > self.weeks:
            raise ValueError("min_weeks cannot exceed weeks")
        return self


class BurnWindow(Strict):
    """A multi-window burn-rate alert: both windows above ``factor`` x the sustainable rate."""

    long: DurationS = Field(gt=0, description="Long window, e.g. 1h.")
    short: DurationS = Field(gt=0, description="Short window, e.g. 5m.")
    factor: float = Field(gt=0, description="Burn rate that fires, e.g. 14.4.")


FAST = BurnWindow(long=3600, short=300, factor=14.4)
SLOW = BurnWindow(long=6 * 3600, short=1800, factor=6.0)


class SloBurnRule(RuleBase):
    """An SLO's error budget burning too fast (Google SRE workbook, multiwindow burn rates)."""

    kind: Literal["slo_burn"] = Field(description="Rule kind.")
    slo: str = Field(description="Name of an SLO under 'slos'.")
    windows: list[BurnWindow] = Field(
        [], description="Window pairs; empty: 1h/5m at 14.4 and 6h/30m at 6 (FAST, SLOW)."
    )

    def window_pairs(self) -> list[BurnWindow]:
        """The configured window pairs, or the workbook's two."""
        return self.windows or [FAST, SLOW]

    min_events: int = Field(1, ge=1, description="Fewer files in the long window: never fires.")


AlertRule = Annotated[
    Union[  # noqa: UP007
        FailureRateRule,
        BacklogRule,
        AgentOfflineRule,
        SilentSourceRule,
        CompensationFailuresRule,
        LatencySloRule,
        BreakerOpenRule,
        AnomalyRule,
        SloBurnRule,
    ],
    Field(discriminator="kind"),
]
RULE_MODELS = (
    FailureRateRule,
    BacklogRule,
    AgentOfflineRule,
    SilentSourceRule,
    CompensationFailuresRule,
    LatencySloRule,
    BreakerOpenRule,
    AnomalyRule,
    SloBurnRule,
)


def tag_of(model: type[BaseModel], key: str) -> str:
    return str(model.model_fields[key].annotation.__args__[0])  # type: ignore[union-attr]


RULE_KINDS = frozenset(tag_of(m, "kind") for m in RULE_MODELS)
CHANNEL_TYPES = frozenset(tag_of(m, "type") for m in CHANNEL_MODELS)


class AlertsConfig(Strict):
    """Alerting: channels to tell, and rules evaluated every ``interval``."""

    interval: DurationS = Field(15.0, gt=0, description="Evaluation period.")
    channels: dict[str, AlertChannel] = Field(
        min_length=1, description="Named channels: dingtalk, slack, webhook or email."
    )
    rules: list[AlertRule] = Field([], description="Alert rules, each of one kind.")
