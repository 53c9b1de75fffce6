"""The ``alerts:`` section: bad input is a located config error naming the line."""

from __future__ import annotations

import pytest

from filerelay.actions.registry import default_registry
from filerelay.config import ActionCatalog, parse_config_text
from filerelay.config.alerts import FailureRateRule
from filerelay.errors import ConfigError

HEAD = """\
connections:
  mail: {type: smtp, host: 127.0.0.1, sender: bot@relay.example}
  s3: {type: s3}
sources:
  - {name: cam, path: /tmp}
routes:
  - name: r
    steps:
      - copy: {to: "/tmp/out/{relpath}"}
alerts:
  channels:
    chat: {type: slack, webhook_url: "https://hooks.example/T0/B0/x"}
    oncall: {type: email, connection: mail, to: [oncall@example.com]}
  rules:
"""  # the rules start on line 15

CASES = [
    (
        "    - {name: a, kind: failure_rat, threshold: 0.5, channels: [chat]}\n",
        "cfg.yaml:15: alerts.rules[0].kind: unknown kind 'failure_rat'; "
        "did you mean 'failure_rate'?",
    ),
    (
        "    - name: a\n      kind: failure_rate\n      threshold: 0.5\n      over: files\n"
        "      channels: [chat]\n",
        "cfg.yaml:18: alerts.rules[0].over: input should be 'events' or 'steps' (got 'files')",
    ),
    (
        "    - name: a\n      kind: failure_rate\n      threshold: 0.5\n      channels: [caht]\n",
        "cfg.yaml:18: alerts.rules[0].channels[0]: unknown channel 'caht'; did you mean 'chat'?",
    ),
    (
        "    - {name: a, kind: silent_source, channels: [chat]}\n",
        "cfg.yaml:15: alerts.rules[0].after: field required",
    ),
    (
        "    - name: a\n      kind: latency_slo\n      max_latency: 1m\n      channels: [chat]\n"
        "      escalate_after: 10m\n      escalate_to: [pager]\n",
        "cfg.yaml:20: alerts.rules[0].escalate_to[0]: unknown channel 'pager'",
    ),
    (
        "    - {name: a, kind: backlog, channels: [chat]}\n",
        "cfg.yaml:15: alerts.rules[0]: give max_queue_depth and/or max_pending_age",
    ),
    (
        "    - {name: a, kind: agent_offline, channels: [chat], afterr: 1m}\n",
        "cfg.yaml:15: alerts.rules[0].afterr: unknown key 'afterr'; did you mean 'after'?",
    ),
    (
        "    - {name: a, kind: silent_source, after: 1h, sources: [cma], channels: [chat]}\n",
        "cfg.yaml:15: alerts.rules[0].sources[0]: unknown source 'cma'",
    ),
    (
        "    - {name: a, kind: backlog, max_queue_depth: 5, channels: [chat]}\n"
        "    - {name: a, kind: backlog, max_queue_depth: 9, channels: [chat]}\n",
        "cfg.yaml:16: alerts.rules[1].name: duplicate rule 'a'",
    ),
]


def problems(text: str) -> list[str]:
    catalog = ActionCatalog.from_registry(default_registry())
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "cfg.yaml", catalog, check_paths=False)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(("rules", "expected"), CASES)
def test_bad_rule_is_reported_at_its_line(rules: str, expected: str) -> None:
    found = problems(HEAD + rules)
    assert any(p.startswith(expected) for p in found), found


def test_bad_channels_are_reported_at_their_line() -> None:
    text = HEAD.replace(
        "    oncall: {type: email, connection: mail,",
        '    hook: {type: webhok, url: "https://x.example"}\n'
        "    oncall: {type: email, connection: s3,",
    )
    found = problems(
        text + "    - {name: a, kind: backlog, max_queue_depth: 1, channels: [chat]}\n"
    )
    assert found[0].startswith(
        "cfg.yaml:13: alerts.channels.hook.type: unknown type 'webhok'; did you mean 'webhook'?"
    ), found
    # (the smtp check runs once the schema is valid)
    fixed = text.replace("webhok", "webhook")
    found = problems(
        fixed + "    - {name: a, kind: backlog, max_queue_depth: 1, channels: [chat]}\n"
    )
    assert found == [
        "cfg.yaml:14: alerts.channels.oncall.connection: s3 connection 's3': need smtp"
    ]


def test_a_valid_section_loads_with_its_defaults() -> None:
    catalog = ActionCatalog.from_registry(default_registry())
    text = HEAD + "    - {name: a, kind: failure_rate, threshold: 0.2, channels: [chat], for: 2m}\n"
    model = parse_config_text(text, "cfg.yaml", catalog, check_paths=False)
    assert model.alerts is not None and model.alerts.interval == 15.0
    rule = model.alerts.rules[0]
    assert isinstance(rule, FailureRateRule)
    assert (rule.kind, rule.window, rule.repeat_interval, rule.for_s) == (
        "failure_rate",
        900.0,
        3600.0,
        120.0,
    )


def test_a_bad_webhook_secret_is_refused_when_the_channels_are_built() -> None:
    from filerelay.alerting.channels import Channels
    from filerelay.config.alerts import WebhookAlertChannel

    bad = WebhookAlertChannel(type="webhook", url="https://x.example/h", secret="whsec_!!")
    with pytest.raises(ConfigError, match=r"alerts.channels.hook.secret: a 'whsec_' secret"):
        Channels({"hook": bad}, {})
