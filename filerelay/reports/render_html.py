"""The report as one self-contained, printable HTML page: inline CSS and SVG charts, no
script, no remote asset. Every text from the store is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

from filerelay.reports.build import human_bytes
from filerelay.reports.render_text import money, pct, secs

CSS = """
body{font-family:system-ui,"Noto Sans","Noto Sans CJK SC",sans-serif;margin:2rem;color:#222;
max-width:60rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.4rem 0}
td,th{padding:.2rem .6rem;text-align:right;border-bottom:1px solid #eee}
td:first-child,th:first-child{text-align:left}.up{color:#b00}.down{color:#070}.muted{color:#777}
svg{display:block;margin:.4rem 0}.bad{color:#b00;font-weight:bold}
@media print{body{margin:0}h2{break-after:avoid}table,svg{break-inside:avoid}}
"""


def _bars(values: list[tuple[str, float]], width: int = 640, height: int = 160) -> str:
    """A bar chart (SVG) of labelled values."""
    if not values:
        return '<p class="muted">no data</p>'
    top = max(v for _, v in values) or 1
    slot = width / len(values)
    parts = [f'<svg width="{width}" height="{height + 30}" viewBox="0 0 {width} {height + 30}" '
             'xmlns="http://www.w3.org/2000/svg" role="img">']  # fmt: skip
    for i, (label, value) in enumerate(values):
        h = value / top * height
        x = i * slot
        parts.append(
            f'<rect x="{x + slot * 0.1:.1f}" y="{height - h:.1f}" width="{slot * 0.8:.1f}" '
            f'height="{h:.1f}" fill="#3b6fb6"><title>{escape(label)}: {value:,.0f}</title></rect>'
        )
        if len(values) <= 16 or i % max(1, len(values) // 8) == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{height + 14}" font-size="10" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _change(fig: dict[str, Any]) -> str:
    chg = fig.get("change")
    if chg is None:
        return '<td class="muted">-</td>'
    return f'<td class="{"up" if chg > 0 else "down"}">{chg:+.0%}</td>'


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "failure_rate":
        return pct(value)
    if key in ("bytes", "bytes_per_second"):
        return human_bytes(value) + ("/s" if key == "bytes_per_second" else "")
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def render_html(report: dict[str, Any]) -> str:
    """The whole report as one HTML document."""
    p = report["period"]
    summary = "".join(
        f"<tr><td>{escape(k)}</td><td>{_fmt(k, f['current'])}</td>"
        f"<td class='muted'>{_fmt(k, f.get('previous'))}</td>{_change(f)}</tr>"
        for k, f in report["summary"].items()
    )
    e2e = report["latency"]["end_to_end"]
    lat_rows = [["end to end", *(secs(e2e[k]) for k in ("p50", "p95", "p99"))]]
    lat_rows += [[escape(n), *(secs(v[k]) for k in ("p50", "p95", "p99"))]
                 for n, v in report["latency"]["actions"].items()]  # fmt: skip
    groups = "".join(
        f"<h2>{title}</h2>"
        + _table(
            ["name", "files", "bytes", "failure rate", "p95"],
            [
                [
                    escape(r["name"]),
                    f"{r['files']:,}",
                    human_bytes(r["bytes"]),
                    pct(r["failure_rate"]),
                    secs(r["p95"]),
                ]
                for r in report[key]
            ],
        )
        for title, key in (("By source", "by_source"), ("By route", "by_route"))
    )
    body = [
        f"<h1>filerelay report</h1><p>{escape(p['since'])} - {escape(p['until'])}"
        f" <span class='muted'>(generated {escape(report['generated_at'])})</span></p>",
        "<h2>Summary</h2><table><tr><th>figure</th><th>this period</th><th>previous</th>"
        f"<th>change</th></tr>{summary}</table>",
        "<h2>Files per day</h2>" + _bars([(d["day"][5:], d["files"]) for d in report["by_day"]]),
        "<h2>Size distribution</h2>" + _bars([(s["label"], s["files"]) for s in report["sizes"]]),
        "<h2>Latency</h2>" + _table(["", "p50", "p95", "p99"], lat_rows),
        groups,
        "<h2>Top errors</h2>"
        + _table(
            ["error", "count", "previous"],
            [
                [escape(e["error"]), f"{e['count']:,}", f"{e['previous']:,}"]
                for e in report["errors"]
            ],
        ),
        f"<h2>Stuck files</h2><p>{len(report['stuck'])} queued or processing for over an hour</p>",
        _capacity(report["capacity"]),
        _slos(report["slos"]),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>filerelay report {escape(p['since'][:10])}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _capacity(cap: dict[str, Any]) -> str:
    rows = [
        [escape(t["target"]), human_bytes(t["bytes"]), human_bytes(t["bytes_per_day"]),
         human_bytes(t["projected_30d_bytes"]), human_bytes(t["projected_90d_bytes"]),
         money(t["monthly_cost"])] for t in cap["targets"]
    ]  # fmt: skip
    tier = cap["tiering"]
    advice = ""
    if tier["old_share"] is not None:
        saving = (
            ""
            if tier["monthly_saving"] is None
            else f", saving {money(tier['monthly_saving'])} a month"
        )
        advice = (
            f"<p>{pct(tier['old_share'])} of objects are older than {tier['after_days']} days and "
            f"could move from {escape(tier['from_class'])} to "
            f"{escape(tier['to_class'])}{saving}.</p>"
        )
    return (
        f"<h2>Capacity and cost</h2><p>Estimated monthly cost: {money(cap['monthly_cost'])}</p>"
        + _table(["bucket/prefix", "stored", "per day", "in 30 d", "in 90 d", "cost/month"], rows)
        + advice
    )


def _slos(slos: list[dict[str, Any]]) -> str:
    if not slos:
        return ""
    rows = [
        [escape(s["name"]), pct(s["objective"]), pct(s["attainment"]),
         pct(s["error_budget_remaining"]),
         "met" if s["met"] else "<span class='bad'>violated</span>"] for s in slos
    ]  # fmt: skip
    return "<h2>SLOs</h2>" + _table(["SLO", "objective", "attainment", "budget left", ""], rows)
