"""The cost of secret redaction per log line, in ``json`` mode.

Renders N step lines (the five context fields, an error text with a URL, a nested dict)
through the configured formatter to a null stream: once without the redaction processor,
then with it and 0, 10 and 100 registered secret values. Prints microseconds per line
(median of the rounds) and the redaction processor alone.

    python -m bench.log_redaction [--lines 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import sys
import time
import uuid
from typing import Any

import structlog

from filerelay import logs
from filerelay.redaction import Redactor


def _event() -> dict[str, Any]:
    return {
        "event": "step_retry",
        "event_id": uuid.uuid4().hex,
        "source": "camera",
        "route": "video",
        "step": "upload",
        "attempt": 2,
        "error": "RetryableError: PUT http://minio:9000/raw/cam/2026/11/28/clip-0042.mp4 "
        "timed out after 60s (connection reset by peer)",
        "retry_in_s": 1.7,
        "result": {"bucket": "raw", "key": "cam/2026/11/28/clip-0042.mp4", "etag": "abc"},
    }


def _per_line_us(lines: int, rounds: int) -> float:
    log = structlog.get_logger("bench")
    event = _event()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(lines):
            log.warning(**event)
        samples.append((time.perf_counter() - start) / lines * 1e6)
    return statistics.median(samples)


def _configure(redact: bool) -> None:
    real, sys.stderr = sys.stderr, io.StringIO()
    try:
        logs.configure_logging("json", "INFO")
    finally:
        sys.stderr = real
    handler: Any = logging.getLogger().handlers[0]
    handler.stream = open("/dev/null", "w")  # noqa: SIM115 - lives as long as the process
    formatter: Any = handler.formatter
    if not redact:
        formatter.processors = [
            p for p in formatter.processors if not isinstance(p, logs.RedactSecrets)
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    _configure(redact=False)
    base = _per_line_us(args.lines, args.rounds)
    print(f"no redaction processor          {base:7.1f} us/line")
    _configure(redact=True)
    registered = 0
    for count in (0, 10, 100):
        logs.register_secrets(f"secret-{uuid.uuid4().hex}" for _ in range(count - registered))
        registered = count
        with_redaction = _per_line_us(args.lines, args.rounds)
        extra = with_redaction - base
        print(
            f"redaction, {count:3d} secret values   {with_redaction:7.1f} us/line "
            f"(+{extra:.1f} us, +{extra / base:.0%})"
        )
    event = _event()
    for count in (0, 10, 100):
        processor = logs.RedactSecrets(Redactor(f"secret-{uuid.uuid4().hex}" for _ in range(count)))
        start = time.perf_counter()
        for _ in range(args.lines):
            processor(None, "warning", dict(event))
        alone = (time.perf_counter() - start) / args.lines * 1e6
        print(f"the processor alone, {count:3d} values {alone:7.1f} us/call")


if __name__ == "__main__":
    main()
