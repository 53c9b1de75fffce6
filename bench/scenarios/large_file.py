"""large_file: one big file (1 GiB; --quick 256 MiB) renamed into a watched tree, against
boto3 ``upload_file``, ``aws s3 cp`` and ``s5cmd cp`` of the same file to the same server.

filerelay's time runs from the rename to its event ``succeeded`` in the store, minus the
silence window (the baselines start at once): detection, hashing, upload and verification.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench import pipelines
from bench.context import Context
from bench.files import MiB, write_big_file
from bench.harness import Relay, clean_env, run_timed
from bench.report import Result, Stats

NAME = "large_file"


def run(ctx: Context) -> Result:
    size = (256 if ctx.quick else 1024) * MiB
    rounds = 3
    staging = ctx.tempdir("large")
    big = staging / "big.bin"
    write_big_file(big, size)
    uploaders = {
        "boto3 upload_file": lambda b: _boto3(ctx, big, b),
        "aws s3 cp": lambda b: _cli(ctx, ["aws", "--endpoint-url", ctx.s3.endpoint, "s3", "cp",
                                          "--quiet", str(big), f"s3://{b}/big.bin"]),
        "s5cmd cp": lambda b: _cli(ctx, ["s5cmd", "--endpoint-url", ctx.s3.endpoint, "cp",
                                         str(big), f"s3://{b}/big.bin"]),
    }  # fmt: skip
    rates: dict[str, list[float]] = {name: [] for name in ["filerelay", *uploaders]}
    _boto3(ctx, big, ctx.bucket("warm"))  # the server's first big write grows volumes: not timed
    for _ in range(rounds):
        rates["filerelay"].append(size / MiB / _filerelay(ctx, big))
        for name, upload in uploaders.items():
            rates[name].append(size / MiB / upload(ctx.bucket("large")))
    medians = {n: Stats.of(v).median for n, v in rates.items() if n != "filerelay"}
    fastest = max(medians, key=lambda n: medians[n])
    others = "; ".join(f"{n} {m:.0f}" for n, m in medians.items())
    return Result(
        NAME,
        "MiB/s",
        Stats.of(rates["filerelay"]),
        Stats.of(rates[fastest]),
        f"fastest: {fastest}",
        target=0.9,
        notes=f"{size // MiB} MiB; filerelay timed rename -> event succeeded minus silence "
        f"{pipelines.SILENCE_S:g} s (includes hashing (SHA-256, and a CRC32 or MD5 per part), "
        "the skip-if-same HEAD and the verify HEAD); "
        f"baselines (MiB/s): {others}",
        extra={f"baseline {n}": m for n, m in medians.items()},
    )


def _filerelay(ctx: Context, big: Path) -> float:
    root = ctx.tempdir("large-relay")
    inbox = root / "in"
    inbox.mkdir()
    bucket = ctx.bucket("relay")
    relay = Relay(root, pipelines.s3_config(inbox, bucket), ctx.redis_url(), ctx.s3.env())
    with relay:
        pipelines.start(relay)
        started = time.time()
        os.link(big, inbox / "big.bin")  # appears whole at once, like a rename
        last = pipelines.wait_done(relay, 1, timeout_s=600)
    return last - started - pipelines.SILENCE_S


def _boto3(ctx: Context, big: Path, bucket: str) -> float:
    started = time.monotonic()
    ctx.s3.client().upload_file(str(big), bucket, "big.bin")
    return time.monotonic() - started


def _cli(ctx: Context, argv: list[str]) -> float:
    exe = ctx.tools.get(argv[0])
    assert exe is not None
    return run_timed([exe, *argv[1:]], env=clean_env(**ctx.s3.env()))
