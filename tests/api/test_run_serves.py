"""`filerelay run` serves the API: on its first start an admin token is made, kept in the
state dir (0600) and its console URL printed once; a second start prints none."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_for
from tests.e2e.harness import Proc, clean_env

pytestmark = pytest.mark.slow

CONFIG = """\
sources:
  - name: inbox
    path: ./inbox
routes:
  - name: copy
    steps:
      - copy: {to: "./outbox/{relpath}"}
"""


def _start(tmp_path: Path, port: int, name: str) -> Proc:
    env = clean_env(FILERELAY_API_SERVE="true", FILERELAY_API_PORT=str(port))
    argv = [sys.executable, "-m", "filerelay", "run", "--config", str(tmp_path / "p.yaml")]
    return Proc(name, argv, env, tmp_path, tmp_path / f"{name}.log").start()


def test_the_first_run_prints_a_console_url_with_an_admin_token_once(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(CONFIG)
    (tmp_path / "inbox").mkdir()
    port = free_port()
    # given `filerelay run` started for the first time
    first = _start(tmp_path, port, "run1")
    try:
        first.wait_log("token=", 90)
        # then it printed the console URL, and the token file is private
        url = re.search(r"http://127\.0\.0\.1:\d+/\?token=(fr_\S+)", first.log())
        assert url is not None, first.log()
        token_file = tmp_path / ".filerelay" / "api-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert token_file.read_text().strip() == url.group(1)
        # and the API answers with that token as an admin
        headers = {"Authorization": f"Bearer {url.group(1)}"}

        def me() -> dict[str, str]:
            return httpx.get(f"http://127.0.0.1:{port}/api/v1/me", headers=headers).json()

        assert wait_for(me, 30, what="the API")["role"] == "admin"
    finally:
        first.stop()
    # when it starts again / then no new token and no URL is printed
    second = _start(tmp_path, port, "run2")
    try:
        second.wait_log("watcher_ready", 90)
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200, 30)
        assert "token=" not in second.log()
    finally:
        second.stop()
