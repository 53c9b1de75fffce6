"""The script action running real programs: exit codes, env, output, timeouts, process groups."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import sys
import time
import tracemalloc
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from filerelay.actions.base import Resources
from filerelay.actions.script import ScriptAction, ScriptConfig, program_timeout_s
from filerelay.errors import FileVanishedError, PermanentError, RetryableError
from tests.actions.helpers import make_context, make_event, write_file
from tests.conftest import wait_for

SECRET = "s3cr3t-token-value"


def script(tmp_path: Path, body: str, name: str = "job.sh") -> Path:
    """Write an executable script (its first line is its interpreter)."""
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def run(src: Path, argv: list[str], **config: Any) -> dict[str, Any]:
    path = write_file(src / "in" / "a b.txt", b"hello\n")
    action = ScriptAction(ScriptConfig(argv=argv, **config), Resources())
    return action.run(make_context(make_event(path, src), step="0-script"))


def gone(pid: int) -> bool:
    """The process no longer exists (a zombie waiting for init to reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == b"Z"


def test_success_with_json_last_line_becomes_output(src: Path, tmp_path: Path) -> None:
    # given a script that prints a log line and a JSON object last
    exe = script(tmp_path, '#!/bin/bash\necho "working on $1"\necho \'{"rows": 3}\'\necho\n')
    # when it runs on a file
    result = run(src, [str(exe)])
    # then it succeeded, got the path as its last argument, and its JSON became the output
    assert result["exit_code"] == 0
    assert result["output"] == {"rows": 3}
    assert result["stdout_tail"].startswith(f"working on {src}/in/a b.txt\n")
    assert result["stderr_tail"] == "" and result["truncated"] is False
    assert result["duration_ms"] >= 0


def test_non_json_last_line_gives_null_output(src: Path, tmp_path: Path) -> None:
    exe = script(tmp_path, "#!/bin/bash\necho '{\"a\": 1}'\necho done\n")
    assert run(src, [str(exe)])["output"] is None


def test_environment_and_templated_argv(src: Path, tmp_path: Path) -> None:
    # given a Python script that dumps its argv and the FILERELAY_* env as JSON into a file
    # (not on stdout: config env values are masked in the output tails)
    dump = tmp_path / "dump.json"
    exe = script(
        tmp_path,
        f"#!{sys.executable}\nimport json, os, sys\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith(('FILERELAY_', 'EXTRA'))}\n"
        f"open({str(dump)!r}, 'w').write(json.dumps({{'argv': sys.argv[1:], 'env': env}}))\n",
        name="dump.py",
    )
    # when it runs with templated arguments, no file argument and an extra env var
    run(
        src,
        [str(exe), "--name", "{name}", "{relpath}"],
        pass_file_as_arg=False,
        env={"EXTRA": "for {source}"},
    )
    out = json.loads(dump.read_text())
    # then argv was rendered and every FILERELAY_* variable describes the file and the step
    assert out["argv"] == ["--name", "a b.txt", "in/a b.txt"]
    env = out["env"]
    assert env["FILERELAY_PATH"] == str(src / "in" / "a b.txt")
    assert env["FILERELAY_RELPATH"] == "in/a b.txt"
    assert env["FILERELAY_SOURCE"] == "src"
    assert env["FILERELAY_NAME"] == "a b.txt"
    assert env["FILERELAY_SIZE"] == "6"
    assert env["FILERELAY_ROUTE"] == "r" and env["FILERELAY_STEP"] == "0-script"
    assert env["FILERELAY_ATTEMPT"] == "1"
    assert env["FILERELAY_IDEMPOTENCY_KEY"].endswith(":r:0-script")
    assert env["FILERELAY_DEDUP_KEY"].startswith("path:src:in/a b.txt:")
    assert len(env["FILERELAY_EVENT_ID"]) == 32
    assert json.loads(env["FILERELAY_STEPS_JSON"]) == {}
    assert "FILERELAY_SHA256" not in env  # not known yet, and not computed for the script
    assert env["EXTRA"] == "for src"


def test_program_gets_a_minimal_environment_unless_it_inherits(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a worker whose environment holds credentials
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-in-worker")
    monkeypatch.setenv("FILERELAY_DATABASE_URL", "postgresql://u:db-pw-in-worker@h/db")
    exe = script(tmp_path, "#!/bin/sh\nenv\n")
    # when a script prints its environment
    names = {line.split("=", 1)[0] for line in run(src, [str(exe)])["stdout_tail"].splitlines()}
    # then it saw only the base variables, its file's and its step's (PWD: set by sh itself)
    assert names - {"PWD", "SHLVL", "_"} <= {"PATH", "LANG", "HOME", "TZ", "EXTRA"} | {
        n for n in names if n.startswith("FILERELAY_") and n != "FILERELAY_DATABASE_URL"
    }
    assert "AWS_SECRET_ACCESS_KEY" not in names and "FILERELAY_DATABASE_URL" not in names
    assert {"PATH", "FILERELAY_PATH"} <= names
    # and with inherit_env it gets the worker's whole environment
    inherited = run(src, [str(exe)], inherit_env=True)["stdout_tail"]
    assert "AWS_SECRET_ACCESS_KEY=" in inherited


def test_a_name_starting_with_a_dash_is_no_option_as_path(src: Path, tmp_path: Path) -> None:
    # given a file named like an option, and a program that prints its arguments
    exe = script(tmp_path, '#!/bin/sh\nfor a in "$@"; do echo "arg:$a"; done\n')
    path = write_file(src / "-rf", b"x")
    action = ScriptAction(
        ScriptConfig(argv=[str(exe), "{path}", "--", "{name}"], pass_file_as_arg=False),
        Resources(),
    )
    out = action.run(make_context(make_event(path, src)))["stdout_tail"].splitlines()
    # then {path} is absolute and the name comes after '--'
    assert out == [f"arg:{src}/-rf", "arg:--", "arg:-rf"]


def test_sha256_and_earlier_results_are_passed_when_known(src: Path, tmp_path: Path) -> None:
    exe = script(
        tmp_path,
        '#!/bin/bash\nprintf \'{"sha": "%s", "steps": %s}\\n\' '
        '"$FILERELAY_SHA256" "$FILERELAY_STEPS_JSON"\n',
    )
    path = write_file(src / "x.bin", b"x")
    ctx = make_context(make_event(path, src, sha256="ab" * 32))
    ctx.results = {"up": {"key": "k/x.bin"}}
    result = ScriptAction(ScriptConfig(argv=[str(exe)]), Resources()).run(ctx)
    assert result["output"] == {"sha": "ab" * 32, "steps": {"up": {"key": "k/x.bin"}}}


def test_exit_75_is_retryable(src: Path, tmp_path: Path) -> None:
    exe = script(tmp_path, "#!/bin/bash\necho 'db locked' >&2\nexit 75\n")
    with pytest.raises(RetryableError, match=r"code 75; stderr: db locked"):
        run(src, [str(exe)])


def test_other_exit_code_is_permanent_with_stderr_tail(src: Path, tmp_path: Path) -> None:
    exe = script(
        tmp_path,
        '#!/bin/bash\nfor i in $(seq 1 500); do echo "line $i" >&2; done\n'
        "echo 'bad input: no header' >&2\nexit 3\n",
    )
    with pytest.raises(PermanentError) as info:
        run(src, [str(exe)])
    message = str(info.value)
    assert message.startswith("script exited with code 3; stderr: ")
    assert message.endswith("line 500\nbad input: no header")
    assert "line 1\n" not in message  # only the tail


def test_configured_success_and_retry_codes(src: Path, tmp_path: Path) -> None:
    exe = script(tmp_path, '#!/bin/bash\nexit "$CODE"\n')
    assert run(src, [str(exe)], env={"CODE": "1"}, success_exit_codes=[0, 1])["exit_code"] == 1
    with pytest.raises(RetryableError):
        run(src, [str(exe)], env={"CODE": "9"}, retry_exit_codes=[9])


def test_timeout_kills_the_script(src: Path, tmp_path: Path) -> None:
    # given a script that records its pid and sleeps far past its timeout
    pidfile = tmp_path / "pid"
    exe = script(tmp_path, f"#!/bin/bash\necho $$ > {pidfile}\nsleep 30\n")
    started = time.monotonic()
    # when it runs with a 0.5 s timeout
    with pytest.raises(RetryableError, match=r"script timed out after 0\.5s"):
        run(src, [str(exe)], timeout="500ms")
    # then the step returned promptly and the script's process is gone
    assert time.monotonic() - started < 10
    pid = int(pidfile.read_text())
    wait_for(lambda: gone(pid), 5, what=f"script pid {pid} to be gone")


def test_timeout_kills_a_grandchild_that_ignores_sigterm(src: Path, tmp_path: Path) -> None:
    # given a script that forks a child which ignores SIGTERM, both writing their pids
    pids = tmp_path / "pids"
    exe = script(
        tmp_path,
        "#!/bin/bash\n"
        f"bash -c 'trap \"\" TERM; echo $$ >> {pids}; while true; do sleep 0.1; done' &\n"
        f"echo $$ >> {pids}\n"
        "wait\n",
    )
    # when it times out
    with pytest.raises(RetryableError, match="timed out"):
        run(src, [str(exe)], timeout="1s")
    # then both the script and the grandchild are gone
    recorded = [int(p) for p in pids.read_text().split()]
    assert len(recorded) == 2
    for pid in recorded:
        wait_for(partial(gone, pid), 5, what=f"pid {pid} to be gone")


def test_leftover_background_process_is_stopped_when_the_script_exits(
    src: Path, tmp_path: Path
) -> None:
    # given a script that starts a background sleeper holding its stdout, and exits 0
    pidfile = tmp_path / "bg"
    exe = script(tmp_path, f"#!/bin/bash\nsleep 30 &\necho $! > {pidfile}\necho ok\n")
    started = time.monotonic()
    result = run(src, [str(exe)])
    # then the step did not wait for the sleeper, and the sleeper is gone
    assert time.monotonic() - started < 10
    assert result["exit_code"] == 0 and result["stdout_tail"] == "ok\n"
    pid = int(pidfile.read_text())
    wait_for(lambda: gone(pid), 5, what=f"background pid {pid} to be gone")


def test_huge_output_is_truncated_to_its_tail_with_bounded_memory(
    src: Path, tmp_path: Path
) -> None:
    # given a script printing 10 MiB on stdout and 10 MiB on stderr, then a JSON line
    exe = script(
        tmp_path,
        f"#!{sys.executable}\nimport sys\n"
        "block = b'x' * 1023 + b'\\n'\n"
        "for _ in range(10 * 1024):\n"
        "    sys.stdout.buffer.write(block)\n    sys.stderr.buffer.write(block)\n"
        "sys.stdout.buffer.write(b'{\"end\": true}\\n')\n",
        name="loud.py",
    )
    # when it runs with max_output_bytes 4 KiB (Python allocations traced)
    tracemalloc.start()
    try:
        result = run(src, [str(exe)], max_output_bytes="4KiB")
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # then each stream kept exactly its last 4 KiB, flagged, and the output is still parsed
    assert result["truncated"] is True
    assert len(result["stdout_tail"]) == 4096 and len(result["stderr_tail"]) == 4096
    assert result["stdout_tail"].endswith('x\n{"end": true}\n')
    assert result["output"] == {"end": True}
    assert peak_bytes < 2 * 1024 * 1024  # far below the 20 MiB printed


def test_missing_program_is_permanent(src: Path, tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match=r"program not found: '.*/nope\.sh'"):
        run(src, [str(tmp_path / "nope.sh")])
    with pytest.raises(PermanentError, match=r"program not found: 'no-such-program-x'"):
        run(src, ["no-such-program-x"])


def test_program_not_executable_is_permanent(src: Path, tmp_path: Path) -> None:
    exe = script(tmp_path, "#!/bin/bash\nexit 0\n")
    exe.chmod(0o644)
    with pytest.raises(PermanentError, match="not executable"):
        run(src, [str(exe)])


def test_secrets_from_config_env_stay_out_of_results_and_errors(src: Path, tmp_path: Path) -> None:
    # given a careless script that prints its token on both streams
    exe = script(tmp_path, '#!/bin/bash\necho "token=$TOKEN"\necho "auth $TOKEN" >&2\nexit $RC\n')
    # when it succeeds, then the token is masked in the result
    result = run(src, [str(exe)], env={"TOKEN": SECRET, "RC": "0"})
    assert SECRET not in json.dumps(result)
    assert result["stdout_tail"] == "token=***\n"
    # and when it fails, the error does not carry it either
    with pytest.raises(PermanentError) as info:
        run(src, [str(exe)], env={"TOKEN": SECRET, "RC": "2"})
    assert SECRET not in str(info.value) and "auth ***" in str(info.value)


def test_cwd_is_used_and_must_exist(src: Path, tmp_path: Path) -> None:
    exe = script(tmp_path, '#!/bin/bash\nprintf \'{"cwd": "%s"}\\n\' "$PWD"\n')
    assert run(src, [str(exe)], cwd=str(tmp_path))["output"] == {"cwd": str(tmp_path)}
    with pytest.raises(PermanentError, match="not a directory"):
        run(src, [str(exe)], cwd=str(tmp_path / "missing"))


def test_vanished_file_fails_before_running(src: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    exe = script(tmp_path, f"#!/bin/bash\ntouch {marker}\n")
    path = write_file(src / "v.txt", b"v")
    ctx = make_context(make_event(path, src))
    os.unlink(path)
    with pytest.raises(FileVanishedError):
        ScriptAction(ScriptConfig(argv=[str(exe)]), Resources()).run(ctx)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"argv": []}, "at least 1 item"),
        ({"argv": [" "]}, "argv[0] (the program) must not be empty"),
        ({"argv": ["x", "{nope}"]}, "unknown field {nope}"),
        ({"argv": ["x"], "shell": True}, "Extra inputs are not permitted"),
        ({"argv": ["x"], "retry_exit_codes": [0]}, "both success and retry codes"),
        ({"argv": ["x"], "env": {"A=B": "1"}}, "bad environment variable name"),
        ({"argv": ["x"], "max_output_bytes": "0"}, "greater than or equal to 1"),
    ],
)
def test_config_validation(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        ScriptConfig(**config)


def test_program_timeout_stays_inside_the_step_timeout() -> None:
    assert program_timeout_s(None, 600) == 597.5
    assert program_timeout_s(30, 600) == 30
    assert program_timeout_s(900, 600) == 597.5
    assert program_timeout_s(None, 2) == 1.0


class SoftTimeLimit(Exception):
    """Stands for Celery's SoftTimeLimitExceeded, raised from a signal handler."""


def test_interrupted_wait_still_stops_the_process_group(src: Path, tmp_path: Path) -> None:
    # given a script whose child ignores SIGTERM, and an alarm that interrupts the wait the
    # way Celery's soft time limit does (an exception raised from a signal handler)
    pids = tmp_path / "pids"
    exe = script(
        tmp_path,
        "#!/bin/bash\n"
        f"bash -c 'trap \"\" TERM; echo $$ >> {pids}; while true; do sleep 0.1; done' &\n"
        f"echo $$ >> {pids}\nwait\n",
    )

    def interrupt(signum: int, frame: Any) -> None:
        raise SoftTimeLimit()

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        # when the wait is interrupted long before the script's own timeout
        with pytest.raises(SoftTimeLimit):
            run(src, [str(exe)], timeout="30s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    # then the exception went through, and the script and its child are gone anyway
    wait_for(lambda: len(pids.read_text().split()) == 2, 5, what="both pids recorded")
    for pid in [int(p) for p in pids.read_text().split()]:
        wait_for(partial(gone, pid), 5, what=f"pid {pid} to be gone")
