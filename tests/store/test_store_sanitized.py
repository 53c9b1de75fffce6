"""What the store records is sanitized at its write boundary: secrets masked, URLs without
userinfo, and no character PostgreSQL refuses (issue 18)."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select, text

from filerelay.logs import register_secrets
from filerelay.redaction import environment_secrets
from filerelay.store import Store
from filerelay.store.db import utcnow
from filerelay.store.migrate import upgrade
from filerelay.store.schema import routing_configs
from tests.store.store_helpers import admit, fail_step, make_event, plan, run_step, step, steps_at

REGISTERED = "registered-Secret-31337"
ENV_SECRET = "env-Secret-42424242"


def test_results_errors_and_reasons_are_masked_and_storable(store: Store) -> None:
    # given secrets the process knows: a registered one and one from its environment
    register_secrets([REGISTERED, *environment_secrets({"SOME_API_TOKEN": ENV_SECRET})])
    leaky = f"key={REGISTERED} env={ENV_SECRET} https://u:pw@h.test/p?sig=abc&n=1 nul:\x00 \udcff"
    event = make_event("in/leaky.bin")
    (pid,) = admit(store, event, plan("r", step(0, "a"), step(1, "b")))
    # when a step succeeds with it in its result and the next fails with it in its error
    run_step(store, steps_at(store, pid, 0)[0], {"stdout_tail": leaky, leaky: [leaky]})
    fail_step(store, steps_at(store, pid, 1)[0], leaky)
    # then the failure is recorded (even on PostgreSQL, which refuses NUL) and masked
    row = store.get_event(event.event_id)
    assert row is not None and row.state == "failed"
    (run,) = store.timeline(event.event_id)
    done, failed = run.steps
    # NUL replaced; a name's non-UTF-8 byte (a lone surrogate) written \\xNN
    expected = "key=*** env=*** https://h.test/p?sig=***&n=1 nul:\ufffd \\xff"
    assert done.result == {"stdout_tail": expected, expected: [expected]}
    assert failed.last_error == expected
    assert expected in (run.error or "") and expected in (row.reason or "")


def test_an_event_reason_is_masked(store: Store) -> None:
    register_secrets([REGISTERED])
    event = make_event("in/r.bin")
    admit(store, event, plan("r", step(0, "a")))
    store.set_event_state(event.event_id, "failed", f"boom {REGISTERED}\x00")
    row = store.get_event(event.event_id)
    assert row is not None and row.reason == "boom ***\ufffd"


def test_upgrade_masks_the_config_versions_already_stored(db_url: str) -> None:
    from filerelay.store import make_engine

    engine: Engine = make_engine(db_url)
    try:
        # given a store at 0005 holding a raw config text with literal secrets
        upgrade(engine, "0005")
        raw = (
            "connections:\n"
            "  s3: {type: s3, access_key_id: AKIAEXAMPLE1, secret_access_key: 'wJalr/Kexample'}\n"
            "  mq: {type: amqp, url: 'amqp://guest:guest-Pass@mq:5672//'}\n"
            "  r: {type: redis, url: '${REDIS_URL}'}\n"
            "routes:\n"
            "  - name: n\n"
            "    steps: [{notify: {url: 'https://oapi.test/send?access_token=tok-123456'}}]\n"
        )
        with engine.begin() as conn:
            conn.execute(
                insert(routing_configs).values(sha256="a" * 64, text=raw, loaded_at=utcnow())
            )
        # when it is upgraded
        upgrade(engine)
        # then the row keeps its hash and shows no secret, only references and masks
        with engine.connect() as conn:
            stored = conn.execute(select(routing_configs.c.text)).scalar_one()
            assert conn.execute(text("SELECT count(*) FROM routing_configs")).scalar() == 1
        for secret in ("AKIAEXAMPLE1", "wJalr/Kexample", "guest-Pass", "tok-123456"):
            assert secret not in stored
        assert "amqp://guest:***@mq" in stored and "access_token=***" in stored
        assert "${REDIS_URL}" in stored
    finally:
        engine.dispose()
