"""A multipart upload interrupted mid-way resumes from its checkpoint on the next attempt."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from filerelay.actions.s3.action import S3Action, S3Config
from tests.actions import helpers
from tests.actions.helpers import S3_CONNECTION, make_context, make_event, s3_resources, write_file

MiB = 1024 * 1024


def test_interrupted_upload_resumes_with_fewer_parts(moto_endpoint, s3_client, bucket, tmp_path):
    # given a 26 MiB file sent in 5 MiB parts, one at a time
    data = os.urandom(26 * MiB)
    path = write_file(tmp_path / "big.bin", data)
    resources = s3_resources(moto_endpoint)
    config = S3Config(
        connection=S3_CONNECTION,
        bucket=bucket,
        multipart_threshold="1MiB",
        part_size="5MiB",
        concurrency=1,
        skip_existing=False,
    )
    event = make_event(path, tmp_path)
    # when the first attempt is cut off after a few parts (the id, then two parts: the
    # fourth save finds the lease lost)
    checkpoint = helpers.cut_off(S3Action(config, resources), event, resources, saves=3)
    done_before = len(checkpoint["multipart"]["parts"])
    assert 1 <= done_before < 6
    # then the next attempt resumes from the checkpoint and uploads only the rest
    second = make_context(event, resources, attempt=2)
    second.checkpoint = checkpoint
    second.checkpointer = lambda _d: True
    result = S3Action(config, resources).run(second)
    assert result["uploaded"] and result["parts"] == 6
    assert result["resumed_parts"] == done_before
    body = s3_client.get_object(Bucket=bucket, Key=result["key"])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    uploads = s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert uploads == []  # the resumed upload completed; nothing left behind


def test_a_checkpoint_for_another_file_version_starts_afresh(
    moto_endpoint, s3_client, bucket, tmp_path: Path
):
    data = os.urandom(11 * MiB)
    path = write_file(tmp_path / "f.bin", data)
    resources = s3_resources(moto_endpoint)
    config = S3Config(
        connection=S3_CONNECTION, bucket=bucket, multipart_threshold="1MiB", part_size="5MiB"
    )
    ctx = make_context(make_event(path, tmp_path), resources)
    stale = {"bucket": bucket, "key": "f.bin", "upload_id": "gone", "size": 1, "part_size": 5 * MiB}
    ctx.checkpoint = {"multipart": stale}
    result = S3Action(config, resources).run(ctx)
    assert result["resumed_parts"] == 0
    body = s3_client.get_object(Bucket=bucket, Key=result["key"])["Body"].read()
    assert body == data
