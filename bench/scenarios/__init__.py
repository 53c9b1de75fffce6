"""One module per scenario, each with ``NAME`` and ``run(ctx) -> Result``, in running order."""

from __future__ import annotations

from types import ModuleType

from bench.scenarios import (
    api_queries,
    console_pages,
    embedded,
    large_file,
    latency,
    pipeline_ceiling,
    reports,
    routing,
    small_files,
    store_query,
    watch_scale,
)

SCENARIOS: dict[str, ModuleType] = {
    m.NAME: m
    for m in (
        small_files,
        large_file,
        latency,
        pipeline_ceiling,
        watch_scale,
        routing,
        store_query,
        reports,
        api_queries,
        console_pages,
        embedded,
    )
}
