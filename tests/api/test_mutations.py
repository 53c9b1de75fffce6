"""Mutations through the served API: upload (sanitised, size-limited, never over a file),
tokens created and revoked, a pipeline cancelled."""

from __future__ import annotations

import uuid

from filerelay.store.db import utcnow
from filerelay.store.records import StepPlan
from tests.api.conftest import Api
from tests.store.store_helpers import admit, make_event, plan, run_step, step


def test_upload_sanitises_the_name_refuses_overwrites_and_big_files(sqlite_api: Api) -> None:
    folder = f"up{uuid.uuid4().hex[:6]}"
    (sqlite_api.root / "inbox" / folder).mkdir()
    with sqlite_api.client("operator") as client:
        # when a file with a hostile name is uploaded into a folder of the source
        files = {"file": ("..\\..\\etc/.pass wd", b"hello")}
        got = client.post("/api/v1/sources/inbox/files", files=files, data={"path": folder})
        # then it lands in that folder under a safe name, nothing left behind
        assert got.status_code == 201, got.text
        assert got.json() == {"source": "inbox", "relpath": f"{folder}/pass wd", "size": 5}
        assert sorted(p.name for p in (sqlite_api.root / "inbox" / folder).iterdir()) == ["pass wd"]
        # when the same name comes again / then it is refused, the first file kept
        again = client.post("/api/v1/sources/inbox/files", files=files, data={"path": folder})
        assert again.status_code == 409 and "exists" in again.json()["detail"]
        # when a file over the limit comes / then 413, and no file is left
        saved = sqlite_api.dep.settings.api_max_upload_bytes
        sqlite_api.dep.settings.api_max_upload_bytes = 3
        try:
            big = client.post(
                "/api/v1/sources/inbox/files",
                files={"file": ("big.bin", b"x" * 10)},
                data={"path": folder},
            )
        finally:
            sqlite_api.dep.settings.api_max_upload_bytes = saved
        assert big.status_code == 413, big.text
        assert sorted(p.name for p in (sqlite_api.root / "inbox" / folder).iterdir()) == ["pass wd"]
        # when the upload has no file part / then a 422 names the field
        missing = client.post("/api/v1/sources/inbox/files", data={"path": folder})
        assert missing.status_code == 422 and "body.file" in missing.text


def test_tokens_are_created_shown_once_and_revoked(sqlite_api: Api) -> None:
    name = f"bot-{uuid.uuid4().hex[:6]}"
    with sqlite_api.client("admin") as admin:
        # when the admin creates a viewer token
        made = admin.post("/api/v1/tokens", json={"name": name, "role": "viewer", "expires": "90d"})
        assert made.status_code == 201, made.text
        secret = made.json()["token"]
        # then it works, and the list never shows a secret
        with sqlite_api.client(None) as anon:
            anon.headers["Authorization"] = f"Bearer {secret}"
            assert anon.get("/api/v1/me").json()["role"] == "viewer"
            listed = admin.get("/api/v1/tokens").json()
            assert name in [t["name"] for t in listed] and secret not in str(listed)
            # when it is revoked / then it no longer authenticates
            assert admin.delete(f"/api/v1/tokens/{name}").status_code == 204
            assert anon.get("/api/v1/me").status_code == 401
        # and a bad role or name is a 4xx naming the field
        bad = admin.post("/api/v1/tokens", json={"name": "x", "role": "root"})
        assert bad.status_code == 422 and "body.role" in bad.text


def test_cancel_stops_a_pipeline_and_its_pending_steps(sqlite_api: Api) -> None:
    # given a pipeline of two pending steps
    store = sqlite_api.dep.store
    event = make_event(f"c/{uuid.uuid4().hex[:6]}.bin")
    (pid,) = admit(store, event, plan("copy", step(0, "one"), step(1, "two")))
    with sqlite_api.client("operator") as client:
        # when the operator cancels it
        got = client.post(f"/api/v1/pipelines/{pid}/cancel")
        # then the steps are cancelled, the pipeline and event failed, nothing was running
        assert got.status_code == 200, got.text
        assert got.json() == {
            "pipeline_id": pid,
            "event_id": event.event_id,
            "running_steps": 0,
            "compensate": False,
        }
        assert {s.status for s in store.steps_of(pid)} == {"cancelled"}
        shown = client.get(f"/api/v1/events/{event.event_id}").json()
        assert shown["state"] == "failed" and shown["pipelines"][0]["error"].startswith(
            "cancelled by"
        )
        # when it is cancelled again / then 409: nothing to cancel
        assert client.post(f"/api/v1/pipelines/{pid}/cancel").status_code == 409


def test_cancel_with_compensate_waits_for_the_running_step_then_plans_the_undo(
    sqlite_api: Api,
) -> None:
    from filerelay.store.cancel import CancelStore

    # given a pipeline whose first step completed and whose second runs
    store = sqlite_api.dep.store
    event = make_event(f"c/{uuid.uuid4().hex[:6]}.bin")
    (pid,) = admit(store, event, plan("copy", step(0, "one"), step(1, "two"), step(2, "three")))
    run_step(store, store.steps_of(pid)[0].id)
    running = store.steps_of(pid)[1].id
    claim = store.claim_step(running, "w", 60)
    assert claim is not None
    with sqlite_api.client("operator") as client:
        # when the operator cancels it with compensation
        got = client.post(f"/api/v1/pipelines/{pid}/cancel", json={"compensate": True})
        assert got.status_code == 200, got.text
        assert got.json()["compensate"] is True and got.json()["running_steps"] == 1
        # and a bad body is a 422 naming the field
        bad = client.post(f"/api/v1/pipelines/{pid}/cancel", json={"compensate": "soon"})
        assert bad.status_code == 422 and "compensate" in bad.text
    # then the pipeline compensates, the event is still processing, the pending step is over
    (pipeline,) = store.pipelines_of(event.event_id)
    assert pipeline.status == "compensating"
    assert store.get_event(event.event_id).state == "processing"
    assert [s.status for s in store.steps_of(pid)] == ["succeeded", "running", "cancelled"]
    # and while the running step's lease is live, no undo is planned
    cancels = CancelStore(store.engine)
    assert pid in cancels.awaiting_compensation()
    undo = StepPlan(
        position=0,
        branch=0,
        name="undo-one",
        action="copy",
        max_attempts=3,
        phase="undo",
        undoes=store.steps_of(pid)[0].id,
    )
    assert cancels.start_compensation(pid, [undo]) is None
    # when the running step stops (its lease renewal is refused; its retry ends it)
    assert store.renew_lease(running, "w", 60) is False
    later = utcnow()
    assert store.retry_step(running, "w", "stopped: cancelled", later)
    assert store.claim_step(running, "w2", 60) is None  # never runs again
    # then the undo step is planned and is the next to run, and nothing waits any more
    adv = cancels.start_compensation(pid, [undo])
    assert adv is not None and len(adv.next_steps) == 1
    assert pid not in cancels.awaiting_compensation()
    run_step(store, adv.next_steps[0], {"undone": "one"})
    (pipeline,) = store.pipelines_of(event.event_id)
    assert pipeline.status == "failed" and (pipeline.error or "").startswith("cancelled by")
    assert store.get_event(event.event_id).state == "failed"
