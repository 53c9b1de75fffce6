"""Sniffing a file's MIME type at ingest never follows a link nor blocks on a FIFO."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from filerelay.routing.sniff import sniff_file

OCTETS = "application/octet-stream"


def test_a_png_is_sniffed(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    assert sniff_file(str(path)) == "image/png"


def test_a_link_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    (tmp_path / "link.bin").symlink_to(tmp_path / "real.png")
    assert sniff_file(str(tmp_path / "link.bin")) == OCTETS


def test_a_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "x.bin"
    os.mkfifo(fifo)
    found: list[str] = []
    sniffer = threading.Thread(target=lambda: found.append(sniff_file(str(fifo))), daemon=True)
    sniffer.start()
    sniffer.join(timeout=10)
    blocked = sniffer.is_alive()
    if blocked:  # release it before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        sniffer.join(timeout=10)
    assert not blocked and found == [OCTETS]
