"""routing_configs: every pipeline can find the exact rules it started with."""

from __future__ import annotations

from filerelay.store import Store


def test_saved_config_text_is_found_by_hash(store: Store) -> None:
    store.save_config("a" * 64, "sources: []\n", "/etc/filerelay.yaml")
    store.save_config("a" * 64, "sources: []\n", "/elsewhere.yaml")  # idempotent
    assert store.config_text("a" * 64) == "sources: []\n"
    assert store.config_text("b" * 64) is None
