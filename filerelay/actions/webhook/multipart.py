"""A streamed ``multipart/form-data`` body: the JSON message as one part, the file as another.

The body knows its length (so it is sent with Content-Length, not chunked) and can be iterated
more than once (once to sign it, once to send it); the file is read in chunks each time, never
held in memory. The boundary is derived from the message id, so a retry sends the same bytes.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterator

from filerelay.actions.webhook.cloudevent import clean_text
from filerelay.errors import PermanentError
from filerelay.safefs import SourceFile, source_error

CHUNK_BYTES = 256 * 1024
JSON_PART = "event"
FILE_PART = "file"


class MultipartBody:
    """``--B`` / JSON part / ``--B`` / file part / ``--B--``, streamed from the file."""

    def __init__(
        self, message_id: str, json_body: bytes, json_type: str, source: SourceFile, size: int
    ):
        self.boundary = "filerelay-" + hashlib.sha256(message_id.encode()).hexdigest()[:32]
        self.source = source  # opened and checked by the action; open while the body is sent
        self.size = size
        name = clean_text(source.path.rsplit("/", 1)[-1])
        file_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        self._head = (
            self._part_head(f'name="{JSON_PART}"', json_type)
            + json_body
            + b"\r\n"
            + self._part_head(f'name="{FILE_PART}"; filename="{_quote(name)}"', file_type)
        )
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def _part_head(self, disposition: str, content_type: str) -> bytes:
        return (
            f"--{self.boundary}\r\n"
            f"Content-Disposition: form-data; {disposition}\r\n"
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()

    def __len__(self) -> int:
        return len(self._head) + self.size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        yield from self._file_chunks()
        yield self._tail

    def _file_chunks(self) -> Iterator[bytes]:
        sent = 0
        try:
            with self.source.stream() as fh:
                while sent < self.size and (chunk := fh.read(min(CHUNK_BYTES, self.size - sent))):
                    sent += len(chunk)
                    yield chunk
        except OSError as exc:
            raise source_error(exc, self.source.path) from exc
        if sent != self.size:
            raise PermanentError(f"file changed while sending it: {self.source.path}")


def _quote(name: str) -> str:
    """A file name for a quoted header parameter: UTF-8, with ``"``, CR and LF
    percent-encoded as browsers do (RFC 7578 section 4.2)."""
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
