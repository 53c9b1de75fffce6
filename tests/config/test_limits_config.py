"""``rate_limit`` and ``breaker`` on connections and steps: parsed, located when wrong, and
resolved to a destination's limits (table-driven)."""

from __future__ import annotations

import pytest

from filerelay.config.limits import parse_rate
from filerelay.errors import ConfigError
from filerelay.limits import limits_of
from tests.config.test_config_loader import load

HEAD = "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n    steps:\n"
CONN = "connections:\n  s3-main: {type: s3, rate_limit: 600/min, breaker: {failures: 3}}\n"


@pytest.mark.parametrize(
    ("text", "per_s"),
    [("50/s", 50.0), ("600/min", 10.0), ("1800/h", 0.5), (" 2.5 / s ", 2.5), ("3/m", 0.05)],
)
def test_rates_parse_to_tokens_per_second(text: str, per_s: float) -> None:
    assert parse_rate(text) == pytest.approx(per_s)


BAD = [
    (
        HEAD + "      - webhook: {url: x}\n        rate_limit: 50/day\n",
        "rules.yaml:7: routes[0].steps[0].rate_limit: bad rate '50/day'",
    ),
    (
        HEAD + "      - webhook: {url: x}\n        rate_limit: 0/s\n",
        "rules.yaml:7: routes[0].steps[0].rate_limit: bad rate '0/s'",
    ),
    (  # a step's own key is located at its line, not under the action's name
        HEAD + "      - webhook: {url: x}\n        timeout: soon\n",
        "rules.yaml:7: routes[0].steps[0].timeout: not a duration",
    ),
    (
        HEAD + "      - webhook: {url: x}\n        breaker: {failures: 0}\n",
        "rules.yaml:7: routes[0].steps[0].breaker.failures:",
    ),
    (
        HEAD + "      - webhook: {url: x}\n        breaker: {cool_down: soon}\n",
        "rules.yaml:7: routes[0].steps[0].breaker.cool_down: not a duration",
    ),
    (
        "connections:\n  c: {type: s3, breaker: {failures: 2, cooldown: 5s}}\n"
        + HEAD
        + "      - webhook: {url: x}\n",
        "rules.yaml:2: connections.c.breaker.cooldown: unknown key 'cooldown'; did you mean "
        "'cool_down'?",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_limits_are_located(tmp_path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(text, tmp_path)
    lines = [str(p) for p in info.value.problems]
    assert any(line.startswith(expected) for line in lines), lines


def test_a_step_inherits_its_connections_limits_and_overrides_them(tmp_path) -> None:
    # given a connection with limits, a step using it, one overriding it, and a webhook
    text = (
        CONN
        + HEAD
        + (
            "      - s3: {connection: s3-main, bucket: b}\n"
            "      - s3: {connection: s3-main, bucket: c}\n        rate_limit: 5/s\n"
            "      - webhook: {url: 'http://Hooks.example:8080/in?t=1'}\n        rate_limit: 20/s\n"
            "      - webhook: {url: 'http://{source}.example/in'}\n        breaker: {}\n"
            "      - webhook: {url: 'http://plain.example/in'}\n"
        )
    )
    model = load(text, tmp_path)
    steps, conns = model.routes[0].steps, model.connections
    # when their limits are resolved
    got = [limits_of(s, "r", f"s{i}", conns) for i, s in enumerate(steps)]
    # then each has its destination key, rate and breaker
    assert (got[0].key, got[0].rate_per_s, got[0].breaker.failures) == (
        "connection:s3-main",
        10.0,
        3,
    )
    assert (got[1].key, got[1].rate_per_s, got[1].breaker.cool_down) == (
        "connection:s3-main",
        5.0,
        30.0,
    )
    assert (got[2].key, got[2].rate_per_s, got[2].breaker) == (
        "host:hooks.example:8080",
        20.0,
        None,
    )
    assert (got[2].capacity, got[3].key) == (2.0, "step:r/s3")
    assert got[4] is None
