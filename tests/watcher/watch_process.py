"""A real watcher process for tests that run it as another user: events go to a JSON-lines file.

``python -m tests.watcher.watch_process INBOX STATE OUT [--observer polling] [--open-timeout S]``
watches INBOX (silence 300 ms) until SIGTERM and appends each published event to OUT.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from typing import Any

from filerelay.logs import configure_logging
from filerelay.model import FileEvent
from filerelay.watcher import Watcher
from tests.watcher.helpers import make_source


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("inbox", type=Path)
    parser.add_argument("state", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--observer", default="native")
    parser.add_argument("--open-timeout", type=float, default=3600.0)
    args = parser.parse_args()
    configure_logging("console", "DEBUG")  # watcher.ready, the readiness mark, is DEBUG

    def publish(events: list[FileEvent]) -> None:
        with args.out.open("a", encoding="utf-8") as fh:
            for event in events:
                fh.write(json.dumps(event.to_message()) + "\n")

    source = make_source(args.inbox, observer=args.observer, open_timeout=args.open_timeout)
    stop = threading.Event()

    def on_term(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    Watcher([source], args.state, publish).run(stop)


if __name__ == "__main__":
    main()
