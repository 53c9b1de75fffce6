"""Process settings: ``FILERELAY_*`` environment variables, their ``_FILE`` forms and ``.env``.

Every setting may instead be read from a file named by ``FILERELAY_<NAME>_FILE`` (a container
secret such as ``/run/secrets/database_url``); its trailing newline is dropped. The variable
itself wins over the file when both are set, as ``${NAME}`` / ``NAME_FILE`` do in the config.

Read by :func:`load_settings` in each entry point and passed down; nothing reads them at import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "FILERELAY_"
FILE_SUFFIX = "_FILE"


class Settings(BaseSettings):
    """Settings of one filerelay process (watcher, worker or both)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    broker_url: str | None = Field(
        default=None,
        description="Celery broker URL (redis://, amqp://). Unset: the embedded filesystem "
        "transport under the state dir, for one machine.",
    )
    result_backend: str | None = Field(
        default=None,
        description="Celery result backend. Unset: results are not stored by Celery (the "
        "metadata store holds every outcome).",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata store. Unset: SQLite (WAL) in the state dir.",
    )
    config: Path | None = Field(default=None, description="Pipeline YAML (sources, routes).")
    state_dir: Path = Field(
        default=Path(".filerelay"),
        description="Local state: watcher outbox and index, embedded broker, SQLite store.",
    )
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    queue: str = Field(default="filerelay", description="Celery queue the tasks go to.")
    visibility_timeout_s: float = Field(
        default=7200.0,
        description="Redis/SQS visibility timeout; must exceed the longest step time limit "
        "plus the longest retry backoff, or a message runs twice.",
    )
    worker_concurrency: int | None = Field(default=None, description="Worker processes/threads.")
    worker_pool: Literal["prefork", "threads", "solo"] = "prefork"
    worker_idle_exit_s: float = Field(
        default=60.0,
        ge=0,
        description="A prefork worker on the embedded broker lets its pool processes exit "
        "after this long without a task, and forks them again for the next one (which waits "
        "for the fork and the process's start); an idle `filerelay run` is then two processes. "
        "0: they stay. Workers on Redis or RabbitMQ keep theirs.",
    )
    lease_s: float = Field(
        default=30.0,
        ge=0.5,
        description="A running step's lease, renewed every third of it while the step runs "
        "(whatever the step's timeout); a worker that dies holding it is replaced at most "
        "this long plus one reconcile interval later (at once by a worker restarted on its "
        "host).",
    )
    reconcile_interval_s: float = Field(default=15.0, gt=0, description="Reconciler period.")
    reconcile_grace_s: float = Field(
        default=60.0,
        ge=0,
        description="Age after which a due step or an unrouted event with no progress is "
        "considered lost by the broker and sent again.",
    )
    soft_shutdown_s: float = Field(
        default=30.0,
        ge=0,
        description="On SIGTERM a worker lets running steps finish for this long before it "
        "stops and returns its unacknowledged messages to the queue.",
    )
    max_backlog: int | None = Field(
        default=None,
        ge=1,
        description="Back pressure: while the broker queue holds this many messages, the "
        "watcher keeps new events in its outbox (unset: no limit).",
    )
    ingest_batch: int = Field(
        default=64,
        ge=1,
        description="Events the watcher puts in one ingest message at most when it has a "
        "backlog (one per message when idle; while messages wait in the queue, it waits up to "
        "0.1 s for a full batch); each file keeps its own rows, steps and retries. 1: one "
        "message per file, no waiting.",
    )
    audit_interval_s: float = Field(
        default=300.0,
        gt=0,
        description="How often the reconciler walks the sources for files the store never "
        "recorded (a message lost after the watcher handed it over).",
    )
    orphan_upload_age_s: float = Field(
        default=3600.0,
        ge=0,
        description="A multipart upload left by a step that ended failed is aborted by the "
        "reconciler after this long.",
    )
    db_auto_upgrade: bool = Field(
        default=True, description="Create or upgrade the store schema when a process starts."
    )
    heartbeat_s: float = Field(
        default=10.0,
        gt=0,
        description="Agent heartbeat period of watchers and workers; silent for 3 periods "
        "is offline.",
    )
    flower_basic_auth: SecretStr | None = Field(
        default=None,
        description="user:password required by `filerelay flower` (comma-separate several).",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Serve Prometheus metrics at http://METRICS_HOST:PORT/metrics from `watch`, "
        "`worker` and `run` (the --metrics-port option). Unset: no metrics server.",
    )
    message_key: SecretStr | None = Field(
        default=None,
        description="Sign every task message with this key (HMAC-SHA256 over its body) and "
        "run only messages signed with it: for a broker others can publish to. Every "
        "process of the deployment needs the same key.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address the metrics server binds (0.0.0.0: all)."
    )
    agent_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        description="This host's agent id in a fleet: events carry it, and steps that read "
        "the file go to the queue '<queue>.host.<agent_id>'. Unset: the host name.",
    )
    agent_labels: str = Field(
        default="",
        description="This host's labels, 'k=v,k2=v2' (e.g. 'site=sh,role=camera'): they select "
        "agents in `agents list`, alert rules and config rollouts.",
    )
    broker_master_name: str | None = Field(
        default=None,
        description="With a Redis Sentinel broker URL (sentinel://h1:26379;sentinel://h2:26379): "
        "the name of the monitored master.",
    )
    amqp_queue_type: Literal["quorum", "classic"] = Field(
        default="quorum",
        description="On RabbitMQ (an amqp:// broker): the type of filerelay's queues. Quorum "
        "queues are replicated and survive a node's loss; a queue declared before as "
        "classic must be deleted (or set 'classic') before a quorum one of its name.",
    )
    fleet_poll_s: float = Field(
        default=2.0,
        gt=0,
        description="With `--config store`: how often the agent asks the store for the "
        "config version assigned to it.",
    )
    api_serve: bool = Field(
        default=True,
        description="`filerelay run` also serves the HTTP API (and console) on API_HOST:API_PORT "
        "(the --no-serve option turns it off).",
    )
    api_host: str = Field(default="127.0.0.1", description="Address the HTTP API binds.")
    api_port: int = Field(default=8700, ge=0, le=65535, description="Port of the HTTP API.")
    api_tls_cert: Path | None = Field(
        default=None, description="PEM certificate: serve the API over HTTPS (with API_TLS_KEY)."
    )
    api_tls_key: Path | None = Field(default=None, description="PEM private key of API_TLS_CERT.")
    api_forwarded_allow_ips: str | None = Field(
        default=None,
        description="Trust X-Forwarded-For/-Proto from these proxy addresses (comma-separated, "
        "or *). Unset: forwarded headers are ignored.",
    )
    api_auth_failures_per_minute: int = Field(
        default=10,
        ge=1,
        description="Failed authentications one address may make in a minute before the API "
        "refuses it (429) for the rest of that minute.",
    )
    api_max_upload_bytes: int = Field(
        default=1024**3, ge=1, description="Largest file the API's upload route accepts."
    )
    log_records_keep: int = Field(
        default=10_000,
        ge=100,
        description="How many recent warning/error/outcome log records of all agents the "
        "store keeps for the API's logs (older ones are dropped as new ones come).",
    )
    audit_retention_days: float = Field(
        default=365.0,
        gt=0,
        description="`filerelay db prune` deletes audit rows older than this.",
    )
    queue_depth_retention_days: float = Field(
        default=8.0,
        gt=0,
        description="How long the queue-depth history (one sample per queue a minute, taken "
        "by the reconciler) is kept; older samples are deleted by the sampler every hour and "
        "by `filerelay db prune`.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then ``FILERELAY_X``, then ``FILERELAY_X_FILE``, then ``.env``."""
        return (
            init_settings,
            env_settings,
            SecretFilesSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    def resolved_message_key(self) -> bytes | None:
        """The message key (FILERELAY_MESSAGE_KEY, or the file FILERELAY_MESSAGE_KEY_FILE
        names, read like every ``_FILE`` setting), or None: messages unsigned."""
        if self.message_key is None:
            return None
        return self.message_key.get_secret_value().strip().encode() or None

    def resolved_database_url(self) -> str:
        """The store URL, defaulting to SQLite in the state dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.state_dir / 'filerelay.db').resolve()}"

    def resolved_broker_url(self) -> str:
        """The broker URL, defaulting to the embedded filesystem transport."""
        return self.broker_url or "filesystem://"

    @property
    def embedded_broker(self) -> bool:
        return not self.broker_url or self.broker_url.startswith("filesystem://")

    def broker_label(self) -> str:
        """Where tasks go, for a start-up line: the broker URL (a password in it is masked by
        the log redaction), or the embedded broker's folder."""
        if self.embedded_broker:
            return f"embedded broker in {self.broker_dir()}"
        return self.resolved_broker_url()

    def store_label(self) -> str:
        """The store, for a start-up line: the SQLite file, or the database URL."""
        if self.database_url:
            return self.database_url
        return str((self.state_dir / "filerelay.db").resolve())

    @property
    def config_wants_store(self) -> bool:
        """``--config store`` (or ``FILERELAY_CONFIG=store:``), not yet resolved to the file
        the config center's agent writes (:mod:`filerelay.fleet.puller`)."""
        return self.config is not None and str(self.config).rstrip(":") == "store"

    def store_config_path(self) -> Path:
        """Where an agent keeps the config version the config center assigned it."""
        return (self.state_dir / "fleet" / "config.yaml").resolve()

    @property
    def config_from_store(self) -> bool:
        """The config comes from the config center (``--config store``), here or resolved to
        its file."""
        if self.config is None:
            return False
        return self.config_wants_store or Path(self.config).resolve() == self.store_config_path()

    def broker_dir(self) -> Path:
        """Folder of the embedded filesystem broker."""
        return (self.state_dir / "broker").resolve()


class SecretFilesSource(PydanticBaseSettingsSource):
    """``FILERELAY_<NAME>_FILE``: the setting ``<name>`` read from the file it names."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # all the work is in __call__

    def __call__(self) -> dict[str, Any]:
        env = {key.upper(): value for key, value in os.environ.items()}
        values: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            var = f"{ENV_PREFIX}{name.upper()}{FILE_SUFFIX}"
            if var not in env:
                continue
            try:
                values[name] = Path(env[var]).read_text(encoding="utf-8").rstrip("\n")
            except OSError as exc:  # the message names the variable and path, never a value
                raise ValueError(f"cannot read {var}={env[var]}: {exc.strerror}") from None
        return values


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment (and ``.env``), with explicit overrides."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]
