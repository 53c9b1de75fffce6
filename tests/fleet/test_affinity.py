"""Which queue each step goes to: the file's host for steps that read or change the file,
the shared queue for the others and for shared sources (pure: no broker, no store)."""

from __future__ import annotations

import pytest

from filerelay.actions.registry import default_registry
from filerelay.config import ActionCatalog, LoadedConfig, parse_config_text
from filerelay.errors import ConfigError
from filerelay.fleet.affinity import step_agent
from filerelay.fleet.identity import (
    default_agent_id,
    host_queue,
    parse_labels,
    queue_for,
    selects,
)
from filerelay.pipeline.runtime import Rules
from tests.factories import file_event

CONFIG = """\
connections:
  mq: {type: amqp, url: "amqp://127.0.0.1:5672//"}
  mail: {type: smtp, host: 127.0.0.1, sender: a@b.c}
  s3: {type: s3, endpoint_url: "http://127.0.0.1:9", access_key_id: a, secret_access_key: b}
sources:
  - {name: local, path: /data/local}
  - {name: nfs, path: /data/nfs, shared: true}
routes:
  - name: all
    steps:
      - s3: {connection: s3, bucket: bkt, key: "{agent}/{relpath}"}
      - copy: {to: "/out/{relpath}"}
      - archive: {to: "/out/{relpath}.zip"}
      - script: {argv: [/bin/true, "{path}"]}
      - webhook: {url: "http://127.0.0.1:9/meta"}
      - webhook: {url: "http://127.0.0.1:9/up", upload_file: true}
      - webhook: {url: "http://127.0.0.1:9/sum?d={sha256}"}
      - publish: {connection: mq, exchange: files, routing_key: new}
      - notify: {channel: slack, webhook_url: "http://127.0.0.1:9/s", message: "{name}"}
      - notify: {channel: email, connection: mail, to: [a@b.c], message: hi, attach_file: true}
      - move: {to: "/done/{relpath}"}
      - delete: {}
"""
#: per step above: does it stay on the file's host?
ON_HOST = [True, True, True, True, False, True, True, False, False, True, True, True]


@pytest.fixture(scope="module")
def rules() -> Rules:
    catalog = ActionCatalog.from_registry(default_registry())
    model = parse_config_text(CONFIG, "fleet.yaml", catalog, check_paths=False)
    return Rules.build(LoadedConfig(model, None, CONFIG, "0" * 64), default_registry())


def test_file_steps_stay_on_the_host_and_metadata_steps_go_anywhere(rules: Rules) -> None:
    # given an event seen by host-a's watcher
    event = file_event("a.bin", source="local", agent="host-a")
    steps = [rules.step("all", position) for position in range(len(ON_HOST))]
    # when each step's queue is chosen / then file steps stay on host-a, the others are shared
    chosen = [rules.agent_for(event, step) for step in steps]
    assert chosen == ["host-a" if on_host else "" for on_host in ON_HOST]


def test_a_shared_source_and_an_event_without_agent_use_the_shared_queue(rules: Rules) -> None:
    s3_step = rules.step("all", 0)
    # given a shared source's event, and one recorded before the fleet / then: shared queue
    assert rules.agent_for(file_event("a", source="nfs", agent="host-a"), s3_step) == ""
    assert rules.agent_for(file_event("a", source="local"), s3_step) == ""
    # and a step whose config is unknown (its rules gone) stays on the host: always safe
    assert rules.agent_for(file_event("a", source="local", agent="h"), None) == "h"


@pytest.mark.parametrize(
    ("agent", "touches", "shared", "expected"),
    [
        ("h", True, False, "h"),
        ("h", False, False, ""),
        ("h", True, True, ""),
        ("", True, False, ""),
    ],
)
def test_step_agent_table(agent: str, touches: bool, shared: bool, expected: str) -> None:
    assert step_agent(agent, touches, shared) == expected


def test_queue_names_and_agent_ids() -> None:
    # host queues hang off the shared queue's name; no agent: the shared queue
    assert host_queue("filerelay", "host-a") == "filerelay.host.host-a"
    assert queue_for("filerelay", "host-a") == "filerelay.host.host-a"
    assert queue_for("filerelay", "") == "filerelay"
    # the default agent id is the host name, cut at its first dot and queue-safe
    assert default_agent_id("cam-01.example.com") == "cam-01"
    assert default_agent_id("we ird!") == "we-ird"


def test_labels_parse_and_select() -> None:
    labels = parse_labels("site=sh, role=camera")
    assert labels == {"site": "sh", "role": "camera"}
    assert selects({"site": "sh"}, labels) and not selects({"site": "bj"}, labels)
    assert selects({}, {})
    # a bad label names the variable and the item
    with pytest.raises(ConfigError, match="FILERELAY_AGENT_LABELS: 'site' is not a label"):
        parse_labels("site")
