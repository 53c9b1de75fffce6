"""Config versions as the store keeps them: secrets masked, rebuilt from the current config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from filerelay.actions.registry import default_registry
from filerelay.config import ActionCatalog, parse_config_text
from filerelay.config.loader import LoadedConfig
from filerelay.config.secrets import config_secrets
from filerelay.config.stored import masked_config_text, unmasked_config_text

CATALOG = ActionCatalog.from_registry(default_registry())
TEXT = """\
connections:
  s3: {{type: s3, access_key_id: AKIA-literal, secret_access_key: "lit-Secret-value"}}
  mq: {{type: amqp, url: "amqp://guest:${{MQ_PASSWORD}}@mq:5672//"}}
sources:
  - {{name: in, path: "{src}"}}
routes:
  - name: {route}
    steps:
      - s3: {{connection: s3, bucket: raw}}
      - webhook: {{url: "https://h.test/in?token=tok-literal-1&x=1", secret: "whsec-lit-22"}}
"""
ENV = {"MQ_PASSWORD": "mq-Password-env"}


def loaded(text: str) -> LoadedConfig:
    model = parse_config_text(text, "rules.yaml", CATALOG, env=ENV, check_paths=False)
    return LoadedConfig(model, Path("rules.yaml"), text, "x")


def test_masked_text_keeps_references_and_no_literal_secret(tmp_path: Path) -> None:
    text = TEXT.format(src=tmp_path, route="up")
    masked = masked_config_text(text, config_secrets(loaded(text), ENV))
    for secret in ("AKIA-literal", "lit-Secret-value", "tok-literal-1", "whsec-lit-22"):
        assert secret not in masked
    assert "amqp://guest:${MQ_PASSWORD}@mq" in masked and "?token=***&x=1" in masked


def test_a_masked_version_is_rebuilt_with_the_current_secrets(tmp_path: Path) -> None:
    # given a version stored masked, and a newer current config (another route name)
    old = TEXT.format(src=tmp_path, route="up")
    masked = masked_config_text(old, config_secrets(loaded(old), ENV))
    current = TEXT.format(src=tmp_path, route="upload")
    # when the old version is rebuilt from the store
    rebuilt = loaded(unmasked_config_text(masked, current)).model
    # then it has its own routes and the secrets that work now
    (route,) = rebuilt.routes  # type: ignore[attr-defined]
    assert route.name == "up"
    s3: Any = rebuilt.connections["s3"]
    assert s3.secret_access_key.get_secret_value() == "lit-Secret-value"
    hook = route.steps[1].action_config
    assert hook.url == "https://h.test/in?token=tok-literal-1&x=1"
    assert unmasked_config_text(old, current) == old  # nothing masked: unchanged
