"""``python -m bench [--quick] [--only NAME ...] [--db DB ...] [--pg-database NAME]``: run
the scenarios, write ``bench/results/latest.json`` and print a Markdown table."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from bench.context import Context
from bench.report import Result, markdown, write_json
from bench.scenarios import SCENARIOS, full_only
from bench.servers import Missing, ensure_tools

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="smaller workloads, without the full-only points "
                        f"({', '.join(n for n in SCENARIOS if full_only(n))}) unless --only "
                        "names them")  # fmt: skip
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), metavar="NAME",
                        help=f"run only these: {', '.join(SCENARIOS)}")  # fmt: skip
    parser.add_argument(
        "--redis", help="use this Redis (redis://HOST:PORT) instead of a private one"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="results JSON file")
    parser.add_argument("--db", nargs="+", choices=["sqlite", "postgresql"],
                        default=["sqlite", "postgresql"],
                        help="api_queries, console_pages: the databases to measure")  # fmt: skip
    parser.add_argument(
        "--pg-database",
        metavar="NAME",
        help="api_queries, console_pages: fill this PostgreSQL database once and keep it "
        "(a later run finding it filled with the same count skips the fill; migrations still "
        "run); by default a temporary database is made and dropped",
    )
    args = parser.parse_args(argv)
    try:
        tools = ensure_tools()
    except Missing as exc:
        print(f"missing: {exc}", file=sys.stderr)
        return 3
    ctx = Context(args.quick, tools, args.redis, tuple(args.db), args.pg_database)
    results: list[Result] = []
    failed = 0
    started = time.monotonic()
    try:
        names = args.only or [n for n in SCENARIOS if not (args.quick and full_only(n))]
        for name in names:
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            t0, load = time.monotonic(), os.getloadavg()[0]
            try:
                results.append(SCENARIOS[name].run(ctx))
                results[-1].extra["load_1m_at_start"] = load
            except Missing as exc:
                print(f"missing: {exc}", file=sys.stderr)
                return 3
            except Exception as exc:
                failed += 1
                traceback.print_exc()
                results.append(Result.failed(name, f"{type(exc).__name__}: {exc}"[:300]))
            print(f"[bench] {name} took {time.monotonic() - t0:.1f} s", file=sys.stderr)
    finally:
        ctx.close()
    mode = "quick" if args.quick else "full"
    write_json(results, args.output, mode)
    print(markdown(results))
    print(f"\n{mode} run, {time.monotonic() - started:.0f} s; results in {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
