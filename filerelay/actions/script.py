"""The ``script`` action: run a program on the file, in its own process group, with a deadline.

The program gets an argv (templates, never a shell string) and a minimal environment: ``PATH``,
``LANG``, ``HOME`` and ``TZ`` of the worker, the ``FILERELAY_*`` variables describing the file
and the step, and the configured ``env`` — never the worker's credentials (broker and database
URLs, ``AWS_SECRET_ACCESS_KEY``, ...) unless the step opts in with ``inherit_env: true``. Its
stdout and stderr are read together (no pipe can fill up and stall it) and only the last
``max_output_bytes`` of each are kept, so a chatty script cannot exhaust the worker's memory.

The child is started with ``start_new_session=True``: it leads a process group of its own, and
everything it forks stays in that group. On timeout — and on any exception while waiting, such
as Celery's soft time limit — the whole group gets SIGTERM, then SIGKILL after a short grace,
so a grandchild that ignores SIGTERM is killed too. When the script exits, whatever it left
running in its group is stopped the same way (a finished step owns no processes; a daemon
that must outlive the step has to leave the group with ``setsid``).

Exit codes::

    in success_exit_codes (default [0])     success
    in retry_exit_codes   (default [75])    RetryableError (75 is EX_TEMPFAIL)
    killed by the timeout                   RetryableError
    anything else, or killed by a signal    PermanentError with the stderr tail

A JSON object printed as the last non-empty stdout line becomes ``result["output"]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from filerelay.actions.base import Action, ActionContext
from filerelay.config.types import DurationS, SizeBytes, TemplateStr
from filerelay.errors import PermanentError, RetryableError
from filerelay.model import JSONDict
from filerelay.redaction import redact

KILL_GRACE_S = 1.0
# After the script exits, how long to wait for the end of its output (a process outside its
# group, started with setsid, may hold the pipes open forever).
DRAIN_S = 1.0
# The program's deadline ends this long before the step's, so that stopping its group and
# raising a clean RetryableError happen before the worker's own time limit strikes.
STOP_MARGIN_S = KILL_GRACE_S + DRAIN_S + 0.5
TICK_S = 0.05
READ_BYTES = 64 * 1024
ERROR_TAIL_CHARS = 2000
# what a program gets of the worker's environment unless its step says inherit_env: true
BASE_ENV_NAMES = ("PATH", "LANG", "HOME", "TZ")


class ScriptConfig(BaseModel):
    """Run a program on the file (argv list, no shell), in its own process group."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    argv: list[TemplateStr] = Field(
        min_length=1,
        description="Program and arguments, each a template ({path}, {relpath}, {name}, "
        "{sha256}, {steps.<name>.<field>}, ...); never run through a shell. A program without "
        "'/' is looked up in PATH. The file's absolute path is in FILERELAY_PATH, and appended "
        "as the last argument unless pass_file_as_arg is false. A file name may start with "
        "'-': pass the file as {path} (always absolute), or put '--' before {name} or "
        "{relpath} so that the program does not read it as an option.",
        examples=[["/opt/bin/index.sh"], ["python3", "/opt/thumb.py", "--", "{name}"]],
    )
    cwd: str | None = Field(
        default=None, description="Working directory of the program; default: the worker's."
    )
    env: dict[str, TemplateStr] = Field(
        default={},
        description="Extra environment variables (values are templates and may carry "
        "${ENV} secrets; they are never logged, and masked in the output kept).",
    )
    inherit_env: bool = Field(
        default=False,
        description="Pass the worker's whole environment to the program (its broker and "
        "database URLs and cloud credentials included). Off: the program gets only PATH, "
        "LANG, HOME, TZ, the FILERELAY_* variables of the file and the step, and env.",
    )
    timeout: DurationS | None = Field(
        default=None,
        gt=0,
        description="Time limit of the program; default (and at most): the step timeout "
        "less 2.5s kept for stopping it. On expiry its whole process group is killed and "
        "the step is retried.",
    )
    retry_exit_codes: list[int] = Field(
        default=[75], description="Exit codes that mean 'try again later' (75: EX_TEMPFAIL)."
    )
    success_exit_codes: list[int] = Field(default=[0], description="Exit codes of success.")
    max_output_bytes: SizeBytes = Field(
        default=64 * 1024,
        ge=1,
        description="Bytes kept of stdout and of stderr each (the tail); the rest is dropped "
        "and the result says truncated: true.",
    )
    pass_file_as_arg: bool = Field(
        default=True, description="Append the file's absolute path as the last argument."
    )
    check_file: bool = Field(
        default=True,
        description="Fail ('file vanished' / 'changed') before starting if the file is gone or "
        "changed; set false for a script that runs after a move and uses "
        "{steps.<name>.path}.",
    )

    @field_validator("argv")
    @classmethod
    def _program_named(cls, argv: list[str]) -> list[str]:
        if not argv[0].strip():
            raise ValueError("argv[0] (the program) must not be empty")
        return argv

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not name or "=" in name or "\x00" in name:
                raise ValueError(f"bad environment variable name {name!r}")
        return env

    @model_validator(mode="after")
    def _codes_disjoint(self) -> ScriptConfig:
        both = sorted(set(self.success_exit_codes) & set(self.retry_exit_codes))
        if both:
            raise ValueError(f"exit codes {both} are both success and retry codes")
        return self


@dataclass
class OutputTail:
    """The last ``limit`` bytes of a stream, and how many bytes went by in all."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    total: int = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > self.limit:
            del self.data[: len(self.data) - self.limit]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.data)

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass
class Finished:
    """How the program ended: exit code (negative: killed by that signal), or timed out."""

    returncode: int
    timed_out: bool
    stdout: OutputTail
    stderr: OutputTail
    duration_ms: float
    stopped: bool = False  # SIGTERMed because the step was told to stop (a cancel)


class ScriptAction(Action[ScriptConfig]):
    """Runs a program on the file; nothing to compensate.

    Result: ``{exit_code, duration_ms, stdout_tail, stderr_tail, output, truncated}``.
    The program must be idempotent itself: ``FILERELAY_IDEMPOTENCY_KEY`` is stable across
    retries of the step.
    """

    name = "script"
    Config = ScriptConfig

    def run(self, ctx: ActionContext) -> JSONDict:
        if self.config.check_file:
            ctx.check_unchanged()
        argv, env = self._argv(ctx), self._env(ctx)
        timeout_s = program_timeout_s(self.config.timeout, ctx.timeout_s)
        proc = self._start(argv, env)
        done = run_to_end(proc, timeout_s, self.config.max_output_bytes, ctx.stop_requested)
        if done.stopped:
            raise RetryableError("stopped: the step was cancelled or lost its lease")
        masks = [env[name] for name in self.config.env if name in env]  # may hold ${ENV} secrets
        ctx.log.info("script_finished", exit_code=done.returncode, timed_out=done.timed_out)
        return self._judge(done, timeout_s, masks)

    def _argv(self, ctx: ActionContext) -> list[str]:
        argv = [ctx.render(arg) for arg in self.config.argv]
        if self.config.pass_file_as_arg:
            argv.append(ctx.path)
        return argv

    def _env(self, ctx: ActionContext) -> dict[str, str]:
        env = dict(os.environ) if self.config.inherit_env else base_env(os.environ)
        env.update(file_env(ctx))
        env.update({name: ctx.render(value) for name, value in self.config.env.items()})
        return env

    def _start(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        cwd = self.config.cwd
        if cwd is not None and not os.path.isdir(cwd):
            raise PermanentError(f"script working directory {cwd!r} is not a directory")
        try:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise PermanentError(f"script program not found: {argv[0]!r}") from None
        except PermissionError:
            raise PermanentError(f"script program is not executable: {argv[0]!r}") from None
        except OSError as exc:
            raise PermanentError(f"cannot run script program {argv[0]!r}: {exc.strerror}") from exc

    def _judge(self, done: Finished, timeout_s: float, masks: list[str]) -> JSONDict:
        stderr = redact(done.stderr.text(), masks)
        code = done.returncode
        if done.timed_out:
            raise RetryableError(f"script timed out after {timeout_s:g}s{_tail_note(stderr)}")
        if code in self.config.success_exit_codes:
            stdout = redact(done.stdout.text(), masks)
            return {
                "exit_code": code,
                "duration_ms": round(done.duration_ms, 1),
                "stdout_tail": stdout,
                "stderr_tail": stderr,
                "output": last_json_object(stdout),
                "truncated": done.stdout.truncated or done.stderr.truncated,
            }
        if code in self.config.retry_exit_codes:
            raise RetryableError(f"script exited with code {code}{_tail_note(stderr)}")
        if code < 0:
            raise PermanentError(f"script killed by {_signal_name(-code)}{_tail_note(stderr)}")
        raise PermanentError(f"script exited with code {code}{_tail_note(stderr)}")


def program_timeout_s(configured_s: float | None, step_timeout_s: float) -> float:
    """The program's deadline: the configured one, within the step's less the stop margin
    (but never below half of the step's, for very short steps)."""
    ceiling = max(step_timeout_s - STOP_MARGIN_S, step_timeout_s / 2)
    return min(configured_s or ceiling, ceiling)


def base_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The worker's variables every program gets: :data:`BASE_ENV_NAMES` (PATH defaulted)."""
    env = {name: environ[name] for name in BASE_ENV_NAMES if name in environ}
    env.setdefault("PATH", os.defpath)
    return env


def file_env(ctx: ActionContext) -> dict[str, str]:
    """The ``FILERELAY_*`` variables describing the file and the step."""
    ev = ctx.event
    values = ctx.template_values()
    env = {
        "FILERELAY_PATH": os.path.abspath(ev.path),
        "FILERELAY_RELPATH": ev.relpath,
        "FILERELAY_SOURCE": ev.source,
        "FILERELAY_NAME": values["name"],
        "FILERELAY_SIZE": str(ev.size),
        "FILERELAY_EVENT_ID": ev.event_id,
        "FILERELAY_DEDUP_KEY": ev.dedup_key,
        "FILERELAY_IDEMPOTENCY_KEY": ctx.idempotency_key,
        "FILERELAY_ROUTE": ctx.route,
        "FILERELAY_STEP": ctx.step_name,
        "FILERELAY_ATTEMPT": str(ctx.attempt),
        "FILERELAY_STEPS_JSON": json.dumps(dict(ctx.results), default=str),
    }
    if values["sha256"]:
        env["FILERELAY_SHA256"] = values["sha256"]
    return env


def run_to_end(
    proc: subprocess.Popen[bytes],
    timeout_s: float,
    limit: int,
    stop: Callable[[], bool] = lambda: False,
) -> Finished:
    """Read the program's output until it exits, ``timeout_s`` passes or ``stop()`` says the
    step must stop (its group then gets SIGTERM), then make sure that nothing of its process
    group is left running, whatever happened meanwhile."""
    assert proc.stdout is not None and proc.stderr is not None
    started = time.monotonic()
    out, err = OutputTail(limit), OutputTail(limit)
    streams: dict[Any, OutputTail] = {proc.stdout: out, proc.stderr: err}
    sel = selectors.DefaultSelector()
    ended: bool | None = False
    try:
        for stream in streams:
            sel.register(stream, selectors.EVENT_READ)
        ended = _pump_until_exit(sel, streams, proc.pid, started + timeout_s, stop)
        timed_out = ended is False
    finally:
        # Also on a Celery soft time limit or any other exception raised while waiting.
        kill_group(proc.pid, KILL_GRACE_S)
        with contextlib.suppress(Exception):
            _drain(sel, streams, time.monotonic() + DRAIN_S)
        for stream in streams:
            with contextlib.suppress(Exception):
                stream.close()
        sel.close()
        proc.wait()
    duration_ms = (time.monotonic() - started) * 1000
    return Finished(proc.returncode, timed_out, out, err, duration_ms, ended is None)


def _pump_until_exit(
    sel: selectors.BaseSelector,
    streams: dict[Any, OutputTail],
    pid: int,
    deadline: float,
    stop: Callable[[], bool],
) -> bool | None:
    """Feed output into the tails until the program exits (True), the deadline (False) or a
    stop request (None)."""
    while True:
        remaining = deadline - time.monotonic()
        if _exited(pid):
            return True
        if remaining <= 0:
            return False
        if stop():
            return None
        _read_ready(sel, streams, min(TICK_S, remaining))


def _drain(sel: selectors.BaseSelector, streams: dict[Any, OutputTail], until: float) -> None:
    """Read what is left in the pipes, until both reach end of file or ``until``."""
    while sel.get_map() and time.monotonic() < until:
        _read_ready(sel, streams, TICK_S)


def _read_ready(
    sel: selectors.BaseSelector, streams: dict[Any, OutputTail], timeout_s: float
) -> None:
    if not sel.get_map():
        time.sleep(timeout_s)  # both pipes closed: only the exit is left to wait for
        return
    for key, _events in sel.select(timeout_s):
        chunk = os.read(key.fd, READ_BYTES)
        if chunk:
            streams[key.fileobj].feed(chunk)
        else:
            sel.unregister(key.fileobj)


def _exited(pid: int) -> bool:
    """Whether the program has exited, without reaping it: while it is an unreaped zombie its
    pid, and so its process group id, cannot be reused, which keeps ``killpg`` safe."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True  # reaped by someone else (a SIGCHLD handler): it has exited
    return info is not None


def kill_group(pgid: int, grace_s: float) -> None:
    """SIGTERM the process group, wait up to ``grace_s`` for its members to go, then SIGKILL.

    The leader is left unreaped (a zombie still counts as a member), so the group is 'gone'
    when only the exited leader is left in it.
    """
    if not _signal_group(pgid, signal.SIGTERM):
        return
    gone = False
    try:
        gone = _wait_group_gone(pgid, grace_s)
    finally:
        if not gone:  # also when interrupted while waiting: never leave the group running
            _signal_group(pgid, signal.SIGKILL)


def _wait_group_gone(pgid: int, grace_s: float) -> bool:
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if _exited(pgid) and not _others_alive(pgid):
            return True
        time.sleep(TICK_S / 2)
    return False


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed its uid; the rest still got the signal
        return True
    return True


def _others_alive(pgid: int) -> bool:
    """Whether a live process other than the leader is in group ``pgid`` (Linux /proc)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True  # cannot tell: let the caller fall back to SIGKILL
    for entry in entries:
        if not entry.isdigit() or int(entry) == pgid:
            continue
        stat = _proc_stat(entry)
        if stat is not None and stat[1] == str(pgid) and stat[0] != "Z":
            return True
    return False


def _proc_stat(pid: str) -> tuple[str, str] | None:
    """``(state, pgrp)`` of a process from /proc/<pid>/stat, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()  # the command name may hold spaces and ')'
    return (fields[0], fields[2]) if len(fields) > 2 else None


def last_json_object(stdout: str) -> JSONDict | None:
    """The JSON object on the last non-empty line of ``stdout``, else None."""
    for line in reversed(stdout.splitlines()):
        if line.strip():
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def _tail_note(stderr: str) -> str:
    tail = stderr.strip()[-ERROR_TAIL_CHARS:]
    return f"; stderr: {tail}" if tail else ""


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
