"""routing: 10,000 FileEvents built in memory matched against 100 routes (one glob each,
none with ``stop``, so every route is evaluated for every event) with ``Router.match``.

Baseline: a plain loop of ``fnmatch.fnmatch`` over the same 100 globs for the same paths.
"""

from __future__ import annotations

import fnmatch
import time

from bench.context import Context
from bench.report import Result, Stats
from filerelay.model import FileEvent, path_dedup_key

NAME = "routing"
EVENTS = 10_000
ROUTES = 100
EXTS = ("bin", "csv", "jpg", "mp4", "json")


def globs() -> list[str]:
    """100 globs of the shapes routes use: a directory, an extension, both, a name prefix."""
    out = []
    for i in range(ROUTES):
        ext = EXTS[i % len(EXTS)]
        shape = i % 4
        if shape == 0:
            out.append(f"d{i:03d}/*")
        elif shape == 1:
            out.append(f"*.{ext}")
        elif shape == 2:
            out.append(f"d{i:03d}/*.{ext}")
        else:
            out.append(f"d{i // 10}*/f00{i % 10}*.{ext}")
    return out


def config_text(patterns: list[str]) -> str:
    lines = ["sources:", "  - {name: in, path: /nonexistent}", "routes:"]
    for i, pattern in enumerate(patterns):
        lines += [
            f"  - name: r{i:03d}",
            f'    when: {{glob: "{pattern}"}}',
            "    steps:",
            '      - copy: {to: "/tmp/out/{relpath}"}',
        ]
    return "\n".join(lines) + "\n"


def events() -> list[FileEvent]:
    out = []
    for j in range(EVENTS):
        rel = f"d{j % ROUTES:03d}/f{j:06d}.{EXTS[j % 7 % len(EXTS)]}"
        key = path_dedup_key("in", rel, 4096, 1_700_000_000_000_000_000 + j, j, j)
        out.append(
            FileEvent(source="in", path=f"/data/{rel}", relpath=rel, size=4096,
                      mtime_ns=1_700_000_000_000_000_000 + j, inode=j, dedup_key=key)
        )  # fmt: skip
    return out


def build_router(patterns: list[str]):
    from filerelay.actions.registry import default_registry
    from filerelay.config import ActionCatalog
    from filerelay.config.loader import parse_config_text
    from filerelay.routing.match import Router

    catalog = ActionCatalog.from_registry(default_registry())
    model = parse_config_text(config_text(patterns), "bench.yaml", catalog, check_paths=False)
    return Router(model.routes)  # type: ignore[attr-defined]  # built from the registry


def run(ctx: Context) -> Result:
    rounds = 3 if ctx.quick else 5
    patterns = globs()
    router = build_router(patterns)
    evs = events()
    paths = [e.relpath for e in evs]
    relay_rates, fn_rates, matched = [], [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        matched = sum(len(router.match(e)) for e in evs)
        relay_rates.append(EVENTS / (time.perf_counter() - started))
        started = time.perf_counter()
        for p in paths:
            [g for g in patterns if fnmatch.fnmatch(p, g)]
        fn_rates.append(EVENTS / (time.perf_counter() - started))
    return Result(
        NAME,
        "events/s",
        Stats.of(relay_rates),
        Stats.of(fn_rates),
        "fnmatch loop",
        target=20_000,
        target_on="value",
        notes=f"{EVENTS:,} events x {ROUTES} glob routes, {matched / EVENTS:.1f} matches per "
        "event; one process, no I/O",
    )
