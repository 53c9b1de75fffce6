"""Client CPU of one small PUT: boto3's ``put_object`` against the ``s3`` action's lean
signed PUT (:mod:`filerelay.actions.s3.signedput`), the same conditional request with the same
headers, against a SeaweedFS on loopback.

    python -m bench.put_cpu [--puts 1000] [--size 4096]

Each side sends ``--puts`` PUTs one after the other, twice, alternating; it prints the CPU
(``time.process_time``, this process only: the server's is not counted) and the wall time
per PUT.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import servers
from filerelay.actions.base import Resources
from filerelay.actions.s3.client import s3_client, signed_put
from filerelay.actions.s3.signedput import put_headers
from filerelay.config.connections import S3Connection

CONTENT_TYPE = "application/octet-stream"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.put_cpu", description=__doc__)
    parser.add_argument("--puts", type=int, default=1000)
    parser.add_argument("--size", type=int, default=4096)
    args = parser.parse_args(argv)
    weed = servers.ensure_tools().get("weed")
    assert weed is not None
    with (
        tempfile.TemporaryDirectory(prefix="fr-putcpu-") as tmp,
        servers.seaweedfs(weed, Path(tmp)) as s3,
    ):
        bucket = s3.make_bucket("put-cpu")
        conn = S3Connection(
            type="s3",
            endpoint_url=s3.endpoint,
            access_key_id=s3.key,
            secret_access_key=s3.secret,
            path_style=True,
        )
        resources = Resources(connections={"bench": conn})
        sides = _sides(resources, bucket, bytearray(b"x" * args.size))
        for _ in range(2):
            for name, put in sides.items():
                put("warm-up")
                cpu, wall = time.process_time(), time.perf_counter()
                for i in range(args.puts):
                    put(f"{i}")
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                print(
                    f"{name:10} CPU {1000 * cpu / args.puts:.3f} ms/PUT, "
                    f"wall {1000 * wall / args.puts:.3f} ms/PUT"
                )
    return 0


def _sides(resources: Resources, bucket: str, body: bytearray) -> dict[str, Callable[[str], None]]:
    client, lean = s3_client(resources, "bench"), signed_put(resources, "bench")
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    meta = {"source": "bench", "relpath": "a/b.bin", "event-id": "0" * 32, "sha256": "f" * 64}
    headers = put_headers(md5, CONTENT_TYPE, meta, None)

    def boto3_put(key: str) -> None:
        client.put_object(
            Bucket=bucket, Key=f"boto3/{time.time_ns()}/{key}", Body=body, ContentMD5=md5,
            IfNoneMatch="*", ContentType=CONTENT_TYPE, Metadata=meta,
        )  # fmt: skip

    def lean_put(key: str) -> None:
        sent = lean.put(bucket, f"lean/{time.time_ns()}/{key}", body, headers, if_absent=True)
        if sent is None or sent.answer is None:
            raise RuntimeError(f"the lean PUT was not stored: {sent}")

    return {"put_object": boto3_put, "lean PUT": lean_put}


if __name__ == "__main__":
    raise SystemExit(main())
