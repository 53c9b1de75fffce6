"""Config loading: every problem reported with file:line and field path (table-driven)."""

from __future__ import annotations

import textwrap

import pytest
from pydantic import BaseModel, ConfigDict

from filerelay.actions.base import Action
from filerelay.actions.registry import Registry
from filerelay.config import ActionCatalog, parse_config_text
from filerelay.config.types import TemplateStr
from filerelay.errors import ConfigError


class UploadConfig(BaseModel):
    """Upload somewhere."""

    model_config = ConfigDict(extra="forbid")
    connection: str
    bucket: str
    key: TemplateStr = "{relpath}"


class UploadAction(Action[UploadConfig]):
    name = "s3"
    Config = UploadConfig
    connection_type = "s3"


class HookConfig(BaseModel):
    """Call a hook."""

    model_config = ConfigDict(extra="forbid")
    url: str


class HookAction(Action[HookConfig]):
    name = "webhook"
    Config = HookConfig


CATALOG = ActionCatalog.from_registry(Registry({"s3": UploadAction, "webhook": HookAction}))
ENV = {"S3_KEY": "AKIA", "S3_SECRET": "shh"}


def load(text: str, tmp_path, env=ENV):
    return parse_config_text(
        textwrap.dedent(text).replace("TMP", str(tmp_path)), "rules.yaml", CATALOG, env=env
    )


GOOD = """\
connections:
  s3-main: {type: s3, endpoint_url: "http://127.0.0.1:9000", access_key_id: "${S3_KEY}",
            secret_access_key: "${S3_SECRET}", path_style: true}
sources:
  - name: camera
    path: TMP
    include: ["*.jpg", "*.mp4"]
    silence: 2s
    tags: {team: vision}
routes:
  - name: video
    when: {source: camera, glob: "**/*.mp4", size: ">=1MiB"}
    steps:
      - s3: {connection: s3-main, bucket: raw, key: "{source}/{date:%Y/%m/%d}/{relpath}"}
        name: upload
      - webhook: {url: "http://127.0.0.1/x"}
    stop: true
"""


def test_good_config_loads_with_secrets_substituted(tmp_path):
    cfg = load(GOOD, tmp_path)
    assert cfg.connections["s3-main"].secret_access_key.get_secret_value() == "shh"
    route = cfg.routes[0]
    assert [s.action for s in route.steps] == ["s3", "webhook"]
    assert route.steps[0].name == "upload"
    assert cfg.sources[0].silence == 2.0
    assert "shh" not in repr(cfg)


CASES = [
    (
        "sources:\n  - name: a\n    path: [x\n",
        "rules.yaml:4: invalid YAML: while parsing a flow sequence (line 3)",
    ),
    (
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n    steps:\n"
        "      - webhok: {url: x}\n",
        "rules.yaml:6: routes[0].steps[0]: unknown action 'webhok'; did you mean 'webhook'?",
    ),
    (
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n    steps:\n"
        "      - s3: {connection: c}\n",
        "rules.yaml:6: routes[0].steps[0].s3.bucket: field required",
    ),
    (
        "connections:\n  c: {type: s3, secret_access_key: '${NOPE}'}\n"
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n    steps:\n"
        "      - webhook: {url: x}\n",
        "rules.yaml:2: connections.c.secret_access_key: environment variable NOPE is not set",
    ),
    (
        "sources:\n  - {name: a, path: TMP/missing}\nroutes:\n  - name: r\n    steps:\n"
        "      - webhook: {url: x}\n",
        "rules.yaml:2: sources[0].path: source path",
    ),
    (
        "sources:\n  - name: a\n    path: TMP\n    silence: 2x\nroutes:\n  - name: r\n    steps:\n"
        "      - webhook: {url: x}\n",
        "rules.yaml:4: sources[0].silence: not a duration: '2x'",
    ),
    (
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n    when: {sise: 1}\n"
        "    steps:\n      - webhook: {url: x}\n",
        "rules.yaml:5: routes[0].when.sise: unknown key 'sise'; did you mean 'size'?",
    ),
    (
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n    when: {size: '>=lots'}\n"
        "    steps:\n      - webhook: {url: x}\n",
        "rules.yaml:5: routes[0].when.size: not a size",
    ),
    (
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n    when: {source: b}\n"
        "    steps:\n      - webhook: {url: x}\n",
        "rules.yaml:5: routes[0].when.source: unknown source 'b'",
    ),
    (
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n    steps:\n"
        "      - s3: {connection: nope, bucket: b}\n",
        "rules.yaml:6: routes[0].steps[0].s3.connection: unknown connection 'nope'",
    ),
    (
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n    steps: []\n",
        "rules.yaml:5: routes[0].steps: list should have at least 1 item",
    ),
    (
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n"
        "    when: {time: {between: '25:00-06:00'}}\n    steps:\n      - webhook: {url: x}\n",
        "rules.yaml:5: routes[0].when.time.between: bad time window '25:00-06:00'",
    ),
    (
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n"
        "    when: {time: {between: '22:00-06:00', tz: Mars/Olympus}}\n    steps:\n"
        "      - webhook: {url: x}\n",
        "rules.yaml:5: routes[0].when.time.tz: unknown time zone 'Mars/Olympus'",
    ),
    (
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n    steps:\n"
        "      - s3: {connection: c, bucket: b, key: '{event.__class__}'}\n",
        "rules.yaml:6: routes[0].steps[0].s3.key: template '{event.__class__}': unknown field",
    ),
    (
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n"
        "    when: {any: [{ext: csv}, {sise: 1}]}\n    steps:\n      - webhook: {url: x}\n",
        "rules.yaml:5: routes[0].when.any[1].sise: unknown key 'sise'; did you mean 'size'?",
    ),
    (
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n"
        "    when: {mime: 'image'}\n    steps:\n      - webhook: {url: x}\n",
        "rules.yaml:5: routes[0].when.mime: bad MIME pattern 'image'",
    ),
    (
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n    steps:\n"
        "      - parallel: [{webhook: {url: x}}]\n",
        "rules.yaml:6: routes[0].steps[0].parallel: list should have at least 2 items",
    ),
    (  # a step's own key written inside the action's mapping
        "sources:\n  - {name: a, path: TMP}\nroutes:\n  - name: r\n    steps:\n"
        "      - webhook: {url: x, retry: {max_attempts: 2}}\n",
        "rules.yaml:6: routes[0].steps[0].webhook.retry: 'retry' belongs beside the action key, "
        "not inside 'webhook'",
    ),
    ("", "rules.yaml: the file is empty"),
    ("- a\n- b\n", "rules.yaml:1: the top level must be a mapping"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_problem_is_located(tmp_path, text, expected):
    with pytest.raises(ConfigError) as info:
        load(text, tmp_path)
    lines = [str(p) for p in info.value.problems]
    assert any(line.startswith(expected) for line in lines), lines


def test_every_problem_is_reported_at_once(tmp_path):
    text = (
        "sources:\n  - name: a\n    path: TMP\n    silence: nope\n    bogus: 1\n"
        "routes:\n  - name: r\n    steps:\n      - s3: {bucket: b}\n      - webhok: {}\n"
    )
    with pytest.raises(ConfigError) as info:
        load(text, tmp_path)
    fields = [p.field for p in info.value.problems]
    assert fields == [
        "sources[0].silence",
        "sources[0].bogus",
        "routes[0].steps[0].s3.connection",
        "routes[0].steps[1]",
    ]
