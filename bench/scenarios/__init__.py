"""One module per scenario, each with ``NAME`` and ``run(ctx) -> Result``, in running order.

A module with ``FULL_ONLY = True`` (a bigger point of another scenario) is left out of a
``--quick`` run unless it is named with ``--only``; it runs at its own size either way.
"""

from __future__ import annotations

from types import ModuleType

from bench.scenarios import (
    api_queries,
    console_pages,
    embedded,
    idle_rss,
    large_file,
    latency,
    pipeline_ceiling,
    reports,
    routing,
    small_files,
    small_files_20k,
    store_query,
    watch_scale,
    watch_scale_1m,
)

SCENARIOS: dict[str, ModuleType] = {
    m.NAME: m
    for m in (
        small_files,
        small_files_20k,
        large_file,
        latency,
        pipeline_ceiling,
        watch_scale,
        watch_scale_1m,
        routing,
        store_query,
        reports,
        api_queries,
        console_pages,
        embedded,
        idle_rss,
    )
}


def full_only(name: str) -> bool:
    """Whether ``--quick`` leaves the scenario out unless ``--only`` names it."""
    return bool(getattr(SCENARIOS[name], "FULL_ONLY", False))
