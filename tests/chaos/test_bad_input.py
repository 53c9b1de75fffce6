"""Bad input through real processes: an unreadable file, a symlink loop, awkward names, an
empty file, a file larger than the destination's free space."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chaos.helpers import (
    assert_bucket,
    pipeline,
    start_reconciler,
    start_watcher,
    start_worker,
    steps_of_file,
    wait_states,
    watcher_sent,
    write_files,
)
from tests.conftest import ON_CI, wait_for
from tests.e2e.operator_helpers import cli
from tests.store.store_helpers import events_by_relpath

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

COPY = """\
routes:
  - name: keep
    steps:
      - copy: {{to: "{out}/{{relpath}}"}}
        name: copy
defaults: {{timeout: 5s, retry: {{max_attempts: 3, backoff: 200ms}}}}
"""

# Root reads any file whatever its mode. Taking away the two capabilities that let it do so
# makes a worker that chmod 000 stops, while it keeps its uid (so its store, logs and the
# interpreter under /root stay reachable). A uid switch needs all of those readable by 65534.
NO_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def without_read_override(probe: Path) -> list[str] | None:
    """An argv prefix under which ``probe`` (mode 000) cannot be read; None if there is none."""
    if os.geteuid() != 0:
        return []
    code = f"import sys\ntry: open({str(probe)!r}).close()\nexcept PermissionError: sys.exit(7)"
    try:
        done = subprocess.run([*NO_DAC, sys.executable, "-c", code], capture_output=True)
    except OSError:
        return None
    return NO_DAC if done.returncode == 7 else None


def test_unreadable_file_fails_at_once_with_its_reason(deploy, tmp_path, broker_url):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    secret = inbox / "secret.txt"
    secret.write_bytes(b"not for you")
    secret.chmod(0)
    prefix = without_read_override(secret)
    if prefix is None:
        pytest.skip(
            "root reads a mode-000 file, and setpriv cannot drop CAP_DAC_OVERRIDE here (a uid "
            "switch would need the interpreter and the test dirs readable by uid 65534)"
        )
    # given a worker that file permissions apply to
    relay = deploy(pipeline(inbox, COPY.format(out=out)), broker_url)
    start_worker(relay, "worker", 1, prefix=prefix)
    start_watcher(relay)
    (inbox / "fine.txt").write_bytes(b"readable")
    # then the unreadable file fails for good on its first attempt, naming the cause
    wait_states(relay, {"failed": 1, "succeeded": 1}, 30)
    [event] = events_by_relpath(relay.store, "drop", "secret.txt")
    assert "permission denied" in event.reason, event.reason
    [step] = steps_of_file(relay, "secret.txt")
    assert (step.status, step.attempts) == ("failed", 1)
    assert sorted(p.name for p in out.iterdir()) == ["fine.txt"]


def test_symlink_loops_in_the_tree_are_not_followed(deploy, tmp_path, broker_url):
    # given a tree with a directory link to its own root, a link cycle and a dangling link
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    (inbox / "sub").mkdir(parents=True)
    (inbox / "sub/up").symlink_to(inbox, target_is_directory=True)
    (inbox / "a").symlink_to(inbox / "b")
    (inbox / "b").symlink_to(inbox / "a")
    (inbox / "dangling").symlink_to(tmp_path / "nowhere")
    (inbox / "sub/before.txt").write_bytes(b"there before the start")
    relay = deploy(pipeline(inbox, COPY.format(out=out)), broker_url)
    start_worker(relay, "worker", 1)
    watcher = start_watcher(relay)
    # when more files and one more loop appear while it runs
    (inbox / "sub/after.txt").write_bytes(b"written while watched")
    (inbox / "sub/loop2").symlink_to(inbox / "sub", target_is_directory=True)
    (inbox / "last.txt").write_bytes(b"barrier")
    # then each real file arrives once under its own path, and no link is taken as a file
    wait_states(relay, {"succeeded": 3}, 30)
    found = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert found == ["last.txt", "sub/after.txt", "sub/before.txt"]
    assert watcher.proc is not None and watcher.proc.poll() is None


AWKWARD = {
    "awk/with spaces/a file name.txt": b"spaces",
    "awk/tab\tand \u00e9t\u00e9 \u2603.txt": b"tab and unicode",
    "awk/empty.bin": b"",
    "nl/new\nline.txt": b"newline",
}
UPLOAD_AND_COPY = """\
routes:
  - name: keep
    when: {{glob: "awk/**"}}
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "{{relpath}}"}}
      - copy: {{to: "{out}/{{relpath}}"}}
  # moto answers 404 to any key with a newline (real S3 takes it): those are only copied
  - name: copy-only
    when: {{glob: "nl/**"}}
    steps:
      - copy: {{to: "{out}/{{relpath}}"}}
defaults: {{timeout: 5s, retry: {{max_attempts: 3, backoff: 200ms}}}}
"""


def test_awkward_names_and_an_empty_file_arrive_whole(
    deploy, tmp_path, broker_url, moto_endpoint, s3_client, bucket
):
    # given a pipeline uploading and copying every file
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    text = pipeline(inbox, UPLOAD_AND_COPY.format(bucket=bucket, out=out), endpoint=moto_endpoint)
    relay = deploy(text, broker_url)
    start_worker(relay, "worker", 2)
    start_watcher(relay)
    # when files with spaces, a tab, a newline, non-ASCII letters, and no bytes at all land
    write_files(inbox, AWKWARD)
    # then each arrives whole under its exact name
    wait_states(relay, {"succeeded": len(AWKWARD)}, 30)
    uploaded = {rel: data for rel, data in AWKWARD.items() if rel.startswith("awk/")}
    assert_bucket(s3_client, bucket, uploaded)
    for rel, data in AWKWARD.items():
        assert (out / rel).read_bytes() == data, rel
        [event] = events_by_relpath(relay.store, "drop", rel)
        assert event.size == len(data)


LATIN1_UPLOAD_AND_COPY = """\
routes:
  - name: keep
    steps:
      - s3: {{connection: s3, bucket: "{bucket}", key: "in/{{relpath}}"}}
      - copy: {{to: "{out}/{{relpath}}"}}
defaults: {{timeout: 5s, retry: {{max_attempts: 3, backoff: 200ms}}}}
"""


def test_non_utf8_name_is_recorded_uploaded_and_copied(
    deploy, tmp_path, broker_url, moto_endpoint, s3_client, bucket
):
    # given a pipeline uploading and copying every file
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    text = pipeline(
        inbox, LATIN1_UPLOAD_AND_COPY.format(bucket=bucket, out=out), endpoint=moto_endpoint
    )
    relay = deploy(text, broker_url)
    start_worker(relay, "worker", 1)
    start_watcher(relay)
    # when a file with a Latin-1 (not UTF-8) name lands, then a barrier file
    name = b"caf\xe9 latin-1.txt"
    with open(os.path.join(os.fsencode(inbox), name), "wb") as fh:
        fh.write(b"bytes of a latin-1 name")
    (inbox / "barrier.txt").write_bytes(b"after it")
    # then both succeed: the S3 key has the byte percent-encoded, the copy keeps the bytes
    wait_states(relay, {"succeeded": 2}, 30)
    assert_bucket(
        s3_client,
        bucket,
        {"caf%E9 latin-1.txt": b"bytes of a latin-1 name", "barrier.txt": b"after it"},
        prefix="in/",
    )
    copied = Path(os.fsdecode(os.path.join(os.fsencode(out), name)))
    assert copied.read_bytes() == b"bytes of a latin-1 name"
    [event] = events_by_relpath(relay.store, "drop", os.fsdecode(name))
    assert event.state == "succeeded"
    assert event.path == os.fsdecode(os.path.join(os.fsencode(inbox), name))
    # and the CLI shows it, the byte escaped as \\xNN, in text and JSON
    shown = cli(relay, "events", "list", "--json")
    assert shown.returncode == 0, shown.stderr
    assert "caf\\\\xe9 latin-1.txt" in shown.stdout
    shown = cli(relay, "events", "show", os.fsdecode(os.path.join(os.fsencode(inbox), name)))
    assert shown.returncode == 0, shown.stderr
    assert "caf\\xe9 latin-1.txt" in shown.stdout and "succeeded" in shown.stdout


def test_a_non_utf8_name_does_not_stop_the_disk_audit(deploy, tmp_path, own_redis):
    # given ingest messages for six files, one with a non-UTF-8 name, waiting in Redis
    server = own_redis(False)
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    relay = deploy(pipeline(inbox, COPY.format(out=out)), server.url())
    start_watcher(relay)  # no worker yet
    files = {f"lost{i}.txt": f"lost {i}".encode() for i in range(5)}
    write_files(inbox, files)
    with open(os.path.join(os.fsencode(inbox), b"caf\xe9.txt"), "wb") as fh:
        fh.write(b"latin-1 name")
    wait_for(lambda: watcher_sent(relay) == 6, 30, 0.1, what="six events handed to Redis")
    # when Redis restarts empty, losing them, and a worker and the reconciler start
    server.kill()
    server.start()
    start_reconciler(relay)
    start_worker(relay, "worker", 1)
    # then the disk audit ingests all six again, the non-UTF-8 name included
    wait_states(relay, {"succeeded": 6}, 20)
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data
    assert Path(os.fsdecode(os.fsencode(out) + b"/caf\xe9.txt")).read_bytes() == b"latin-1 name"


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 1 MiB tmpfs, unmounted at the end."""
    disk = tmp_path / "tiny"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}"
        if ON_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_file_larger_than_the_destination_free_space_fails_cleanly(
    deploy, tmp_path, broker_url, tiny_disk
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    relay = deploy(pipeline(inbox, COPY.format(out=tiny_disk)), broker_url)
    start_worker(relay, "worker", 1)
    start_watcher(relay)
    (inbox / "small.txt").write_bytes(b"fits")
    (inbox / "huge.bin").write_bytes(os.urandom(2 * 2**20))
    wait_states(relay, {"succeeded": 1, "failed": 1}, 30)
    [event] = events_by_relpath(relay.store, "drop", "huge.bin")
    assert "no space left on device" in event.reason, event.reason
    [step] = steps_of_file(relay, "huge.bin")
    assert (step.status, step.attempts) == ("failed", 1)
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["small.txt"]  # no partial file
    assert (inbox / "huge.bin").stat().st_size == 2 * 2**20
