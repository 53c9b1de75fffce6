"""The report as plain text (the terminal, chat summaries) and as CSV (one row per figure)."""

from __future__ import annotations

import csv
import io
from typing import Any

from filerelay.reports.build import human_bytes


def pct(value: float | None) -> str:
    """``0.125`` → ``12.5%``; ``-`` for none."""
    return "-" if value is None else f"{value:.1%}"


def money(value: float) -> str:
    """A cost in the configured prices' currency: two decimals, or 3 significant digits below 1."""
    return f"{value:.2f}" if value >= 1 or value == 0 else f"{value:.3g}"


def secs(value: float | None) -> str:
    """Seconds for people: ``≤1.5s``; ``-`` for none."""
    if value is None:
        return "-"
    return "over max" if value == float("inf") else f"≤{value:g}s"


def _num(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "failure_rate":
        return pct(value)
    if key in ("bytes", "bytes_per_second"):
        return human_bytes(value) + ("/s" if key == "bytes_per_second" else "")
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The headline figures, one a line, with the previous period's and the change."""
    lines = []
    for key, fig in report["summary"].items():
        prev = fig.get("previous")
        chg = fig.get("change")
        tail = "" if "previous" not in fig else f"   (previous {_num(key, prev)}"
        tail += "" if "previous" not in fig else (f", {chg:+.0%})" if chg is not None else ")")
        lines.append(f"  {key:<18} {_num(key, fig['current']):>14}{tail}")
    return lines


def render_text(report: dict[str, Any]) -> str:
    """The whole report as text."""
    p = report["period"]
    out = [f"filerelay report {p['since']} .. {p['until']}", "", "Summary", *summary_lines(report)]
    e2e = report["latency"]["end_to_end"]
    out += ["", "Latency (end to end, bucket upper bounds)"]
    out.append("  " + "  ".join(f"{k} {secs(e2e[k])}" for k in ("p50", "p95", "p99")))
    for name, lat in report["latency"]["actions"].items():
        out.append(
            f"  {name:<10} " + "  ".join(f"{k} {secs(lat[k])}" for k in ("p50", "p95", "p99"))
        )
    for title, rows in (("By source", report["by_source"]), ("By route", report["by_route"])):
        out += ["", title]
        out += [
            f"  {r['name']:<20} {r['files']:>8,} files {human_bytes(r['bytes']):>10}  "
            f"failed {pct(r['failure_rate'])}"
            for r in rows
        ]
    out += ["", "By day"] + [
        f"  {d['day']}  {d['files']:>8,} files {human_bytes(d['bytes']):>10}  "
        f"{d['failed']:,} failed"
        for d in report["by_day"]
    ]
    out += ["", "Sizes"] + [f"  {s['label']:>18}  {s['files']:>8,}" for s in report["sizes"]]
    out += ["", "Top errors"] + [f"  {e['count']:>6,}  {e['error']}" for e in report["errors"]]
    out += ["", f"Stuck files (queued or processing over an hour): {len(report['stuck'])}"]
    out += [
        f"  {s['source']}/{s['relpath']} {s['state']} since {s['created_at']}"
        for s in report["stuck"]
    ]
    out += _capacity(report["capacity"]) + _slos(report["slos"])
    return "\n".join(out) + "\n"


def _capacity(cap: dict[str, Any]) -> list[str]:
    out = ["", f"Capacity (estimated monthly cost {money(cap['monthly_cost'])})"]
    for t in cap["targets"]:
        out.append(
            f"  {t['target']:<30} {human_bytes(t['bytes']):>10} stored, "
            f"{human_bytes(t['bytes_per_day'])}/day; "
            f"in 30 d {human_bytes(t['projected_30d_bytes'])}, "
            f"in 90 d {human_bytes(t['projected_90d_bytes'])}"
        )
    tier = cap["tiering"]
    if tier["old_share"] is not None:
        saving = (
            ""
            if tier["monthly_saving"] is None
            else f", saving {money(tier['monthly_saving'])}/month"
        )
        out.append(
            f"  {pct(tier['old_share'])} of objects are older than {tier['after_days']} d and "
            f"could move {tier['from_class']} → {tier['to_class']}{saving}"
        )
    return out


def _slos(slos: list[dict[str, Any]]) -> list[str]:
    out = ["", "SLOs"] if slos else []
    for s in slos:
        out.append(
            f"  {s['name']:<20} attainment {pct(s['attainment'])} "
            f"(objective {pct(s['objective'])}), "
            f"budget left {pct(s['error_budget_remaining'])}, {'met' if s['met'] else 'VIOLATED'}"
        )
    return out


def _csv_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for key, fig in report["summary"].items():
        rows += [["summary", key, field, value] for field, value in fig.items()]
    e2e = report["latency"]["end_to_end"]
    rows += [["latency", "end_to_end", k, v] for k, v in e2e.items() if k != "previous"]
    for name, lat in report["latency"]["actions"].items():
        rows += [["latency", name, k, lat[k]] for k in ("p50", "p95", "p99")]
    fields = ("files", "bytes", "failed", "failure_rate", "p50", "p95", "p99")
    for section in ("by_source", "by_route"):
        rows += [[section, r["name"], f, r[f]] for r in report[section] for f in fields]
    rows += [["by_day", d["day"], f, d[f]] for d in report["by_day"] for f in fields[:3]]
    rows += [["sizes", s["label"], "files", s["files"]] for s in report["sizes"]]
    rows += [["errors", e["error"], "count", e["count"]] for e in report["errors"]]
    slo_fields = ("attainment", "error_budget_remaining", "good", "total")
    rows += [["slos", s["name"], f, s[f]] for s in report["slos"] for f in slo_fields]
    return rows


def render_csv(report: dict[str, Any]) -> str:
    """``section,name,field,value`` rows: every figure of the report."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "name", "field", "value"])
    w.writerows(_csv_rows(report))
    return buf.getvalue()
