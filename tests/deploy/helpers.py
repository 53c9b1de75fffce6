"""Readers of the deployment files: the compose file, its services and their secrets."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "docker-compose.yml"
GENERATOR = ROOT / "deploy" / "generate-secrets.sh"
SECRETS_DIR = "/run/secrets/"
SECRET_REF = re.compile(r"/run/secrets/([A-Za-z0-9_.-]+)")
#: The commands whose process loads the pipeline (and so needs every ${NAME} of it).
PIPELINE_COMMANDS = {"watch", "worker", "reconcile", "alerts", "run"}


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def strings(node: Any) -> Iterator[str]:
    """Every string in a parsed YAML tree (keys and values)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)
    elif isinstance(node, str):
        yield node


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def env_secret(name: str, value: str) -> str | None:
    """The secret a ``*_FILE`` variable names: ``/run/secrets/X``, or a bare ``X`` (the MinIO
    image reads names under /run/secrets/)."""
    if not name.endswith("_FILE"):
        return None
    if value.startswith(SECRETS_DIR):
        return value[len(SECRETS_DIR) :]
    return value if "/" not in value else None


def secrets_used(service: dict[str, Any]) -> set[str]:
    """The secrets a service reads: through *_FILE variables, in its commands and
    healthcheck, and in the scripts it mounts from the repository."""
    used = {s for n, v in environment(service).items() if (s := env_secret(n, v)) is not None}
    for text in strings({k: v for k, v in service.items() if k != "secrets"}):
        used.update(SECRET_REF.findall(text))
    for source, _target in bind_mounts(service):
        path = ROOT / source
        if path.is_file() and path.suffix in {".sh", ".sql"}:
            used.update(SECRET_REF.findall(path.read_text()))
    return used


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of the service's bind mounts of repository files."""
    mounts = []
    for spec in service.get("volumes") or []:
        source, target = str(spec).split(":")[:2]
        if source.startswith("./"):
            mounts.append((source, target))
    return mounts


def named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """container path → named volume, of the service's volume mounts."""
    found = {}
    for spec in service.get("volumes") or []:
        source, target = str(spec).split(":")[:2]
        if not source.startswith(("./", "/")):
            found[target] = source
    return found


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else [str(part) for part in cmd]


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def generate_secrets(into: Path) -> Path:
    """Run deploy/generate-secrets.sh into ``into`` (the compose file's deploy/secrets/)."""
    subprocess.run(["sh", str(GENERATOR), str(into)], check=True, capture_output=True)
    return into


def read_secret(folder: Path, name: str) -> str:
    return (folder / name).read_text().rstrip("\n")
