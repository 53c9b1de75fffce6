"""small_files: a burst of 4 KiB files in 20 directories dropped at once into a watched tree,
timed from the first write to the last object (its event ``succeeded`` in the store), against
uploaders given the same files and the same SeaweedFS server: a boto3 8-thread
``put_object`` pool, ``s5cmd cp``, ``aws s3 cp --recursive`` and rclone where installed.
:func:`measure` is shared with small_files_20k, the same burst at 20,000 files.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import pipelines
from bench.context import Context
from bench.files import Burst
from bench.harness import Relay, clean_env, run_timed
from bench.report import Result, Stats

NAME = "small_files"
BOTO3_THREADS = 8
BASELINE = "boto3 8-thread put_object"


def run(ctx: Context) -> Result:
    return measure(ctx, NAME, 300 if ctx.quick else 2000, rounds=3, every_baseline=True)


def measure(ctx: Context, name: str, files: int, rounds: int, every_baseline: bool) -> Result:
    """The burst of ``files`` through filerelay and the uploaders, ``rounds`` times, as the
    line ``name``; without ``every_baseline`` only the boto3 pool and s5cmd (the two quick
    ones) run beside filerelay."""
    burst = Burst(files)
    source = ctx.tempdir("small-src")
    burst.write(source, burst.payloads(seed=10**6))
    uploaders = {
        BASELINE: lambda b: _boto3_pool(ctx, source, burst, b),
        "s5cmd cp": lambda b: _s5cmd(ctx, source, b),
    }
    if every_baseline:
        uploaders["aws s3 cp --recursive"] = lambda b: _aws(ctx, source, b)
        if ctx.tools.get("rclone"):
            uploaders["rclone copy"] = lambda b: _rclone(ctx, source, b)
    rates: dict[str, list[float]] = {n: [] for n in ["filerelay", *uploaders]}
    for _ in range(rounds):
        rates["filerelay"].append(_filerelay(ctx, burst))
        for uploader, upload in uploaders.items():
            bucket = ctx.bucket("small")
            rates[uploader].append(burst.files / upload(bucket))
            if (count := ctx.s3.count(bucket)) != burst.files:
                raise RuntimeError(f"{uploader}: {count} of {burst.files} objects")
    others = "; ".join(
        f"{n} {Stats.of(v).median:.0f}" for n, v in rates.items() if n != "filerelay"
    )
    absent = "; ".join(ctx.tools.absent.values()) if every_baseline else ""
    left_out = "" if every_baseline else "; aws and rclone not run at this size"
    return Result(
        name,
        "files/s",
        Stats.of(rates["filerelay"]),
        Stats.of(rates[BASELINE]),
        BASELINE,
        target=1.0,
        milestone=0.8,
        notes=f"{burst.files:,} files x 4 KiB, {rounds} round{'s' * (rounds > 1)}, silence "
        f"{pipelines.SILENCE_S:g} s, worker {pipelines.WORKER_POOL} -C "
        f"{pipelines.WORKER_CONCURRENCY}; other baselines (files/s): {others}{left_out}"
        + (f"; {absent}" if absent else ""),
        extra={
            "files": burst.files,
            **{f"baseline {n}": Stats.of(v).median for n, v in rates.items() if n != "filerelay"},
        },
    )


def _filerelay(ctx: Context, burst: Burst) -> float:
    root = ctx.tempdir("small-relay")
    inbox = root / "in"
    inbox.mkdir()
    bucket = ctx.bucket("relay")
    relay = Relay(root, pipelines.s3_config(inbox, bucket), ctx.redis_url(), ctx.s3.env())
    with relay:
        return pipelines.burst_rate(relay, inbox, burst, check=lambda: ctx.s3.count(bucket))


def _boto3_pool(ctx: Context, source: Path, burst: Burst, bucket: str) -> float:
    client = ctx.s3.client(max_pool_connections=BOTO3_THREADS)

    def put(rel: str) -> None:
        client.put_object(Bucket=bucket, Key=rel, Body=(source / rel).read_bytes())

    started = time.monotonic()
    with ThreadPoolExecutor(BOTO3_THREADS) as pool:
        list(pool.map(put, burst.relpaths()))
    return time.monotonic() - started


def _s5cmd(ctx: Context, source: Path, bucket: str) -> float:
    s5cmd = ctx.tools.get("s5cmd")
    assert s5cmd is not None
    argv = [s5cmd, "--endpoint-url", ctx.s3.endpoint, "cp", f"{source}/*", f"s3://{bucket}/"]
    return run_timed(argv, env=clean_env(**ctx.s3.env()))


def _aws(ctx: Context, source: Path, bucket: str) -> float:
    aws = ctx.tools.get("aws")
    assert aws is not None
    argv = [aws, "--endpoint-url", ctx.s3.endpoint, "s3", "cp", "--recursive", "--quiet"]
    return run_timed([*argv, str(source), f"s3://{bucket}/"], env=clean_env(**ctx.s3.env()))


def _rclone(ctx: Context, source: Path, bucket: str) -> float:
    rclone = ctx.tools.get("rclone")
    assert rclone is not None
    remote = (
        f":s3,provider=Other,endpoint='{ctx.s3.endpoint}',access_key_id={ctx.s3.key},"
        f"secret_access_key={ctx.s3.secret},region=us-east-1,force_path_style=true:{bucket}"
    )
    env = clean_env(**ctx.s3.env(), RCLONE_CONFIG="/dev/null")
    env.pop("AWS_CA_BUNDLE", None)  # rclone's SDK refuses a CA bundle with its own transport
    return run_timed([rclone, "copy", str(source), remote], env=env)
