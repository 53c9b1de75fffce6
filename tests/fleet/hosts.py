"""Several "hosts" on one machine: each a mount namespace with its own tmpfs over the same
inbox path, running its own watcher and worker (FILERELAY_AGENT_ID=host-a, host-b, ...)
against one broker, one store and one S3 server on loopback. Needs root (unshare, mount).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import stop_process
from tests.e2e.harness import Proc, clean_env


def namespaces_available() -> bool:
    """Root with unshare and nsenter, allowed to make a mount namespace (a container needs
    CAP_SYS_ADMIN): one per simulated host."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"):
        return False
    probe = ["unshare", "--mount", "--propagation", "private", "true"]
    return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0


def require_namespaces() -> None:
    if not namespaces_available():
        if os.environ.get("CI") == "true":
            pytest.fail("the fleet tests need root, unshare and nsenter (mount namespaces)")
        pytest.skip("the fleet tests need root, unshare and nsenter (mount namespaces)")


@dataclass
class Host:
    """One simulated host: a mount namespace whose own tmpfs is mounted at ``inbox``."""

    agent: str
    root: Path
    inbox: Path
    env: dict[str, str]
    holder: subprocess.Popen[bytes] | None = None
    procs: list[Proc] = field(default_factory=list)

    def start(self) -> Host:
        """Create the namespace (a process that mounts the tmpfs, then sleeps)."""
        ready = self.root / "ns-ready"
        script = f"mount -t tmpfs tmpfs '{self.inbox}' && touch '{ready}' && exec sleep 3600"
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            start_new_session=True,
        )
        from tests.conftest import wait_for

        wait_for(ready.exists, 10, what=f"namespace of {self.agent}")
        return self

    def _nsenter(self) -> list[str]:
        assert self.holder is not None
        return ["nsenter", f"--mount=/proc/{self.holder.pid}/ns/mnt", "--"]

    def write(self, relpath: str, data: bytes) -> None:
        """Write a file in this host's inbox (seen by this host only)."""
        code = (
            "import os,sys; p=sys.argv[1]; os.makedirs(os.path.dirname(p), exist_ok=True); "
            "open(p,'wb').write(sys.stdin.buffer.read())"
        )
        subprocess.run(
            [*self._nsenter(), sys.executable, "-c", code, str(self.inbox / relpath)],
            input=data,
            check=True,
            timeout=30,
        )

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        """``python -m filerelay ARGS`` inside this host's namespace."""
        argv = [*self._nsenter(), sys.executable, "-m", "filerelay", *args]
        log = self.root / f"{name}.log"
        proc = Proc(f"{self.agent}/{name}", argv, {**self.env, **(env or {})}, self.root, log)
        self.procs.append(proc)
        return proc.start()

    def start_worker(self, *config: str, wait: bool = True) -> Proc:
        """``filerelay worker`` here (solo pool), ready unless ``wait`` is False."""
        after = (
            len((self.root / "worker.log").read_text())
            if (self.root / "worker.log").exists()
            else 0
        )
        proc = self.spawn("worker", "worker", "--pool", "solo", "-n", f"{self.agent}@%h", *config)
        if wait:
            proc.wait_log("worker_ready", 90, after=after)
        return proc

    def start_watcher(self, *config: str, wait: bool = True) -> Proc:
        """``filerelay watch`` here, ready unless ``wait`` is False."""
        proc = self.spawn("watcher", "watch", *config)
        if wait:
            proc.wait_log("watcher_ready", 90)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        if self.holder is not None:
            stop_process(self.holder)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log()[-5000:]}" for p in self.procs)


def start_all(hosts: list[Host], *config: str) -> None:
    """Start every host's worker and watcher at once, then wait until all are ready."""
    for host in hosts:
        host.start()
    procs = []
    for host in hosts:
        procs.append((host.start_worker(*config, wait=False), "worker_ready"))
        procs.append((host.start_watcher(*config, wait=False), "watcher_ready"))
    for proc, line in procs:
        proc.wait_log(line, 120)


def make_hosts(
    tmp_path: Path, names: list[str], common_env: dict[str, str], labels: dict[str, str]
) -> list[Host]:
    """Hosts sharing the inbox path ``tmp_path/inbox`` (each its own tmpfs over it)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    hosts = []
    for name in names:
        root = tmp_path / name
        root.mkdir()
        env = clean_env(
            FILERELAY_AGENT_ID=name,
            FILERELAY_AGENT_LABELS=labels.get(name, ""),
            FILERELAY_STATE_DIR=str(root / "state"),
            FILERELAY_HEARTBEAT_S="1",
            FILERELAY_LOG_LEVEL="INFO",
            **common_env,
        )
        hosts.append(Host(name, root, inbox, env))
    return hosts


def amqp_queue_name() -> str:
    """A queue name of its own for a test on the shared RabbitMQ."""
    return f"fr-fleet-{uuid.uuid4().hex[:10]}"
