"""Unprivileged users for tests: created with ``useradd`` (the test runs as root), removed at
the end; processes run as them through ``setpriv``."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int

    def prefix(self) -> list[str]:
        """The command line prefix that runs a command as this user, without other groups."""
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]


@contextmanager
def system_users(count: int) -> Iterator[list[User]]:
    """``count`` new system users (no home); skips unless root with ``useradd``."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("needs root, useradd and setpriv")
    made: list[str] = []
    try:
        users = []
        for _ in range(count):
            name = f"frtest_{uuid.uuid4().hex[:8]}"
            subprocess.run(["useradd", "--system", "--no-create-home", name], check=True)
            made.append(name)
            entry = pwd.getpwnam(name)
            users.append(User(name, entry.pw_uid, entry.pw_gid))
        yield users
    finally:
        for name in made:
            subprocess.run(["userdel", name], check=False)
