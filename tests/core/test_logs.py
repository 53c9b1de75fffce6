"""Log processors: secrets masked by value (nested strings, URLs, exception text) and by key,
Celery's task lines labelled with their event, task context that never leaks."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from billiard.einfo import ExceptionInfo
from billiard.exceptions import WorkerLostError

from filerelay import logs
from filerelay.actions.registry import default_registry
from filerelay.config import ActionCatalog, LoadedConfig, parse_config_text
from filerelay.config.secrets import config_secrets, marked_env_values
from filerelay.redaction import Redactor, is_secret_key, mask_url_passwords, secrets_in
from filerelay.settings import Settings
from filerelay.tasks.names import INGEST, STEP
from filerelay.tasks.signals import _bind_task_context, _clear_task_context

# --- the redactor ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hunter2-secret", "***"),
        ("auth failed for 'hunter2-secret' (len 14)", "auth failed for '***' (len 14)"),
        ("a:hunter2-secret:hunter2-secret:b", "a:***:***:b"),
        # the longer secret is masked whole, not around the shorter one inside it
        ("key hunter2-secret-and-more", "key ***"),
        ("nothing here", "nothing here"),
        ("abc", "abc"),  # shorter than 4 characters: not masked by value
    ],
)
def test_known_values_are_masked_wherever_they_occur(text: str, expected: str) -> None:
    redactor = Redactor(["hunter2-secret", "hunter2-secret-and-more", "abc"])
    assert redactor.redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://:hunter2@host:6379/0", "redis://:***@host:6379/0"),
        ("amqp://user:p%40ss@rabbit:5672//", "amqp://user:***@rabbit:5672//"),
        (
            "cannot connect to postgresql+psycopg2://app:pw123@db/x: refused",
            "cannot connect to postgresql+psycopg2://app:***@db/x: refused",
        ),
        (
            "two: redis://:a1@h1 and https://u:b2@h2/p",
            "two: redis://:***@h1 and https://u:***@h2/p",
        ),
        ("http://host:8080/path", "http://host:8080/path"),
        ("http://user@host/path", "http://user@host/path"),
    ],
)
def test_url_passwords_are_masked_even_when_unknown(text: str, expected: str) -> None:
    assert mask_url_passwords(text) == expected


def test_secret_values_of_settings_are_url_passwords_and_secret_fields() -> None:
    settings = Settings(
        broker_url="redis://:broker-pw@127.0.0.1:6379/0",
        database_url="postgresql://app:db%2Fpw@db/filerelay",
        flower_basic_auth="ops:flower-pw",
    )
    found = secrets_in(settings)
    assert {"broker-pw", "db%2Fpw", "db/pw", "ops:flower-pw"} <= found
    assert "127.0.0.1" not in found and "filerelay" not in found


CONFIG = """\
connections:
  s3: {type: s3, endpoint_url: "http://127.0.0.1:9000", access_key_id: "${S3_KEY}",
       secret_access_key: "${S3_SECRET}"}
  mq: {type: amqp, url: "amqp://app:${MQ_PW}@rabbit:5672//"}
sources:
  - {name: drop, path: /data/in, silence: 1s}
routes:
  - name: all
    steps:
      - webhook: {url: "https://u:hook-url-pw@hooks.example/in", secret: "${HOOK_SECRET}",
                  headers: {Authorization: "Bearer ${API_BEARER}"}}
      - notify: {channel: dingtalk, webhook_url: "${DING_URL}", secret: "${DING_SECRET}",
                 message: "{relpath} arrived"}
      - copy: {to: "/data/${BUCKET_NAME}/{relpath}"}
"""


def test_config_secrets_are_secret_fields_urls_and_marked_variables(tmp_path: Path) -> None:
    (tmp_path / "mq_pw").write_text("mq-pw-from-file\n")
    env = {
        "S3_KEY": "AKIAKEYID",
        "S3_SECRET": "s3-secret-key",
        "MQ_PW_FILE": str(tmp_path / "mq_pw"),
        "HOOK_SECRET": "whsec_aG9vay1zZWNyZXQ=",
        "API_BEARER": "bearer-value",
        "DING_URL": "https://oapi.dingtalk.com/robot/send?access_token=ding-token",
        "DING_SECRET": "SECding-secret",
        "BUCKET_NAME": "public-bucket",
    }
    catalog = ActionCatalog.from_registry(default_registry())
    model = parse_config_text(CONFIG, "p.yaml", catalog, env=env, check_paths=False)
    loaded = LoadedConfig(
        model, Path("p.yaml"), CONFIG, hashlib.sha256(CONFIG.encode()).hexdigest()
    )
    found = config_secrets(loaded, env)
    expected = {
        "AKIAKEYID",
        "s3-secret-key",
        "mq-pw-from-file",  # in a URL, and from MQ_PW_FILE
        "whsec_aG9vay1zZWNyZXQ=",
        "hook-url-pw",
        "Bearer bearer-value",  # the value of a secret-named header
        "https://oapi.dingtalk.com/robot/send?access_token=ding-token",
        "SECding-secret",
    }
    assert expected <= found
    assert "public-bucket" not in found  # a plain variable is not a secret
    assert "bearer-value" not in found  # nor is API_BEARER alone (only the whole header)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("S3_SECRET", True),
        ("DB_PASSWORD", True),
        ("GITHUB_TOKEN", True),
        ("S3_KEY", True),
        ("BASIC_AUTH", True),
        ("BUCKET", False),
        ("ENDPOINT", False),
    ],
)
def test_a_variable_is_marked_secret_by_its_name(name: str, secret: bool) -> None:
    assert (marked_env_values(f"x: ${{{name}}}", {name: "value-1234"}) == {"value-1234"}) is secret


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("db_password", True),
        ("secret_access_key", True),
        ("Authorization", True),
        ("api_token", True),
        ("event_id", False),
        ("idempotency_key", False),
        ("relpath", False),
    ],
)
def test_secret_named_keys(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


# --- the configured pipeline: structlog and stdlib records, JSON out ---------------------


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """``configure_logging('json')`` writing to a buffer; the previous set-up restored."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, structlog.get_config(), logging.lastResort)
    hooks = (sys.excepthook, threading.excepthook)
    stream = io.StringIO()
    real_stderr, sys.stderr = sys.stderr, stream  # the handler binds sys.stderr when made
    try:
        logs.configure_logging("json", "DEBUG")
    finally:
        sys.stderr = real_stderr
    structlog.contextvars.clear_contextvars()
    try:
        yield stream
    finally:
        structlog.contextvars.clear_contextvars()
        root.handlers[:], level, config, logging.lastResort = saved
        sys.excepthook, threading.excepthook = hooks
        root.setLevel(level)
        structlog.configure(**config)
        logging.captureWarnings(False)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_traceback_is_inside_the_json_object_with_secrets_masked(json_logs) -> None:
    logs.register_secrets(["tb-secret-1234"])
    try:
        raise RuntimeError("cannot log in with tb-secret-1234 at redis://:pw9876@h/0")
    except RuntimeError:
        structlog.get_logger("t").error("failed", exc_info=True)
        logging.getLogger("celery.app.trace").exception("Task x raised: %s", "tb-secret-1234")
    ours, celerys = lines(json_logs)
    for line in (ours, celerys):
        assert "Traceback (most recent call last)" in line["exception"]
        assert "RuntimeError: cannot log in with *** at redis://:***@h/0" in line["exception"]
    assert celerys["event"] == "Task x raised: ***"
    assert "tb-secret-1234" not in json_logs.getvalue() and "pw9876" not in json_logs.getvalue()


def test_nested_values_and_secret_keys_are_masked(json_logs) -> None:
    logs.register_secrets(["nested-secret-5678"])
    structlog.get_logger("t").info(
        "sent",
        password="plain",
        headers={"Authorization": "Bearer x", "X-Note": "has nested-secret-5678 inside"},
        urls=["redis://:u1p@h", ("tuple", "nested-secret-5678")],
        obj=Path("/x/nested-secret-5678"),
    )
    (line,) = lines(json_logs)
    assert line["password"] == "***"
    assert line["headers"] == {"Authorization": "***", "X-Note": "has *** inside"}
    assert line["urls"] == ["redis://:***@h", ["tuple", "***"]]
    assert line["obj"] == "PosixPath('/x/***')"


def test_foreign_records_get_the_bound_context_and_celery_task_labels(json_logs) -> None:
    structlog.contextvars.bind_contextvars(event_id="e1", source="drop", route="r", step="s")
    logging.getLogger("watchdog.observers").warning("inotify hiccup")
    structlog.contextvars.clear_contextvars()
    data = {"id": "t-1", "name": INGEST, "args": "event_id=e2 source=cams path=/x", "kwargs": "{}"}
    logging.getLogger("celery.worker.strategy").info("Task received", extra={"data": data})
    step = {"id": "t-2", "args": "[7]", "kwargs": "{'event_id': 'e3', 'source': 'scans'}"}
    logging.getLogger("celery.app.trace").info("Task succeeded", extra={"data": step})
    hiccup, received, succeeded = lines(json_logs)
    assert (hiccup["event_id"], hiccup["route"], hiccup["logger"]) == (
        "e1",
        "r",
        "watchdog.observers",
    )
    assert (received["task_id"], received["event_id"], received["source"]) == ("t-1", "e2", "cams")
    assert (succeeded["task_id"], succeeded["event_id"], succeeded["source"]) == (
        "t-2",
        "e3",
        "scans",
    )


def test_task_context_is_cleared_between_tasks() -> None:
    class FakeTask:  # only the name is read
        def __init__(self, name: str) -> None:
            self.name = name

    event = {"event_id": "e1", "source": "drop", "path": "/x"}
    _bind_task_context("t1", FakeTask(INGEST), (event,), {})
    structlog.contextvars.bind_contextvars(route="r", step="s", attempt=1)  # the runner's
    assert structlog.contextvars.get_contextvars() == {
        "task_id": "t1",
        "event_id": "e1",
        "source": "drop",
        "route": "r",
        "step": "s",
        "attempt": 1,
    }
    _bind_task_context("t2", FakeTask(STEP), (42,), {"event_id": "e2", "source": "cams"})
    assert structlog.contextvars.get_contextvars() == {
        "task_id": "t2",
        "event_id": "e2",
        "source": "cams",
        "step_id": 42,
    }
    _clear_task_context()
    assert structlog.contextvars.get_contextvars() == {}


def test_a_lost_pool_process_is_one_warning_not_a_traceback(json_logs) -> None:
    # given the record Celery's worker writes when a pool process dies under a task
    # (billiard wraps the error with its traceback text, as in the worker)
    try:
        raise WorkerLostError("Worker exited prematurely: signal 15 (SIGTERM) Job: 0.")
    except WorkerLostError:
        einfo = ExceptionInfo()
    logging.getLogger("celery.worker.request").error(
        "Task handler raised error: %r", einfo.exception.exc, exc_info=einfo.exc_info
    )
    # then it is one warning saying why, and that the message went back to the queue
    (line,) = lines(json_logs)
    assert line["event"] == "task_worker_lost"
    assert (line["level"], line["reason"], line["requeued"]) == (
        "warning",
        "signal 15 (SIGTERM) Job: 0",
        True,
    )
    assert "exception" not in line and "Traceback" not in json_logs.getvalue()
