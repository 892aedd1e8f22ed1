#!/usr/bin/env python3
"""Summarises a bench/run.sh results file (one JSON line per run): medians per (case, server),
ratios to Sockeye and to the ceiling, server CPU per message; writes JSON, CSV, a Markdown
table and an SVG chart. Standard library only.

    python3 bench/report.py bench/results/raw-<stamp>.jsonl --out bench/results [--stamp S]
"""
import argparse
import csv
import json
import os
import statistics
import sys
from html import escape

SERVERS = ["sockeye", "ceiling", "node", "socketioxide", "python"]
NAMES = {
    "sockeye": "Sockeye",
    "ceiling": "ceiling (limit-server)",
    "node": "Node socket.io",
    "socketioxide": "socketioxide",
    "python": "python-socketio",
}
COLORS = {
    "sockeye": "#d9480f",
    "ceiling": "#868e96",
    "node": "#2f9e44",
    "socketioxide": "#1971c2",
    "python": "#7048e8",
}
# The case's headline metric: (field, label, higher is better).
PRIMARY = {
    "connect": ("rss_per_conn_kib", "KiB per idle connection (server RSS)", False),
    "echo-rate": ("server_cpu_pct", "server CPU % at the fixed rate", False),
    "echo": ("msgs_per_server_cpu_s", "messages per server CPU-second", True),
    "broadcast": ("deliveries_per_server_cpu_s", "deliveries per server CPU-second", True),
}
CASE_TITLES = {
    "connect-10k": "connect 10k",
    "echo-100": "echo, 100 clients closed loop",
    "echo-20k": "echo at 20k msg/s",
    "bcast-1k-100": "broadcast 1k x 100/s",
    "bcast-10k-10": "broadcast 10k x 10/s",
    "bcast-10k-100": "broadcast 10k x 100/s",
    "echo-polling": "echo over polling, closed loop",
    "bcast-1k-10-deflate": "broadcast 1k x 10/s, 1 KiB JSON, permessage-deflate",
}
FIELDS = [
    "throughput_per_s",
    "msgs_per_server_cpu_s",
    "deliveries_per_server_cpu_s",
    "server_cpu_s",
    "server_cpu_pct",
    "server_cpu_us_per_msg",
    "server_user_us_per_msg",
    "server_sys_us_per_msg",
    "p50_us",
    "p99_us",
    "p999_us",
    "delivery_ratio",
    "rx_bytes_per_delivery",
    "rss_per_conn_kib",
    "connects_per_s",
    "loadgen_cpu_s",
]


def kind(row):
    sc = row.get("scenario")
    if sc == "echo" and row.get("mode") == "rate":
        return "echo-rate"
    return sc or "?"


def flat(row):
    lat = row.get("latency_us") or {}
    out = dict(row)
    out["p50_us"] = lat.get("p50")
    out["p99_us"] = lat.get("p99")
    out["p999_us"] = lat.get("p999")
    return out


def median(values):
    vals = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(vals) if vals else None


def fmt(v, field=""):
    if v is None:
        return "–"
    if field in ("delivery_ratio",):
        return f"{v:.3f}"
    if field.endswith("_pct"):
        return f"{v:.1f} %"
    if field.endswith("_us") and field.startswith("p"):
        return f"{v / 1000:.2f} ms"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def summarise(rows):
    groups = {}
    for r in rows:
        case, server = r.get("case"), r.get("server") or r.get("label")
        if not case or not server:
            continue
        groups.setdefault(case, {}).setdefault(server, []).append(flat(r))
    summary = []
    for case, by_server in groups.items():
        any_row = next(r for rs in by_server.values() for r in rs if r.get("scenario"))
        k = kind(any_row)
        field, label, higher = PRIMARY.get(k, ("throughput_per_s", "per second", True))
        med = {}
        for server, rs in by_server.items():
            good = [r for r in rs if r.get("scenario")]
            m = {f: median(r.get(f) for r in good) for f in FIELDS}
            m["runs"] = len(rs)
            m["ok_runs"] = sum(1 for r in rs if r.get("ok"))
            m["problems"] = sorted({e for r in rs for e in (r.get("errors") or {})} |
                                   {r["error"] for r in rs if r.get("error")})
            med[server] = m
        # Runs are interleaved (run 1 of every server, then run 2, ...), so run n of two
        # servers are minutes apart at most: the median of those per-run ratios is less
        # exposed to the machine changing speed between runs than the ratio of the medians.
        by_run = {s: {r.get("run"): r.get(field) for r in rs if r.get("scenario")}
                  for s, rs in by_server.items()}
        for server, m in med.items():
            v = m.get(field)
            for ref in ("sockeye", "ceiling"):
                rv = med.get(ref, {}).get(field)
                m[f"ratio_to_{ref}"] = (v / rv) if (v is not None and rv) else None
                mine, theirs = by_run.get(server, {}), by_run.get(ref, {})
                m[f"pair_ratio_to_{ref}"] = median(
                    mine[n] / theirs[n] for n in mine
                    if isinstance(mine[n], (int, float)) and isinstance(theirs.get(n), (int, float))
                    and theirs[n])
            quick = any(str(r.get("quick")) == "1" for r in by_server[server])
            title = CASE_TITLES.get(case, case) + (" (--quick sizes)" if quick else "")
            summary.append({
                "case": case,
                "title": title,
                "scenario": k,
                "server": server,
                "metric": field,
                "metric_label": label,
                "higher_is_better": higher,
                "value": v,
                **m,
            })
    order = {c: i for i, c in enumerate(CASE_TITLES)}
    summary.sort(key=lambda s: (order.get(s["case"], 99), s["case"],
                                SERVERS.index(s["server"]) if s["server"] in SERVERS else 99))
    return summary


def detail(s):
    """The cell text: headline value plus what qualifies it."""
    v = fmt(s["value"], s["metric"])
    extra = []
    if s["scenario"] == "echo-rate" and s.get("p99_us") is not None:
        extra.append(f"p99 {fmt(s['p99_us'], 'p99_us')}")
    if s["scenario"] == "broadcast" and s.get("delivery_ratio") is not None and s["delivery_ratio"] < 0.995:
        extra.append(f"{(1 - s['delivery_ratio']) * 100:.0f} % dropped")
    if s["case"].endswith("-deflate") and s.get("rx_bytes_per_delivery") is not None:
        # What compression is for: the bytes each subscriber reads per tick.
        extra.append(f"{fmt(s['rx_bytes_per_delivery'])} B on the wire per delivery")
    if s["ok_runs"] < s["runs"]:
        extra.append(f"{s['runs'] - s['ok_runs']}/{s['runs']} runs with errors")
    return v + (f" ({', '.join(extra)})" if extra else "")


def cpu_cell(s):
    """Total CPU per message, with its user + system split when the run recorded it."""
    total = fmt(s.get("server_cpu_us_per_msg"))
    user, system = s.get("server_user_us_per_msg"), s.get("server_sys_us_per_msg")
    if user is None or system is None:
        return total
    return f"{total} ({fmt(user)} + {fmt(system)})"


def markdown(summary):
    cases = []
    for s in summary:
        if s["case"] not in cases:
            cases.append(s["case"])
    servers = [x for x in SERVERS if any(s["server"] == x for s in summary)]
    servers += sorted({s["server"] for s in summary} - set(servers))
    by = {(s["case"], s["server"]): s for s in summary}
    head = (["scenario (metric)"] + [NAMES.get(x, x) for x in servers]
            + ["Sockeye / ceiling", "same, per-run pairs"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cases:
        first = next(s for s in summary if s["case"] == c)
        arrow = "higher is better" if first["higher_is_better"] else "lower is better"
        cells = [f"{first['title']}: {first['metric_label']} ({arrow})"]
        for x in servers:
            cells.append(detail(by[(c, x)]) if (c, x) in by else "–")
        for key in ("ratio_to_ceiling", "pair_ratio_to_ceiling"):
            r = by.get((c, "sockeye"), {}).get(key)
            cells.append(f"{r:.3f}" if r is not None else "–")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Sockeye / ceiling is the ratio of the two medians; \"per-run pairs\" is the "
                 "median of run n of Sockeye over run n of the ceiling (run back to back).")
    lines.append("")
    lines.append("Server CPU per message (µs of server CPU per delivered message or echo; "
                 "for connect, per connection), medians; in brackets the user (the server's "
                 "own code) and system (kernel, mostly TCP) parts, each a median of its own:")
    lines.append("")
    head2 = ["scenario"] + [NAMES.get(x, x) for x in servers]
    lines += ["| " + " | ".join(head2) + " |", "|" + "---|" * len(head2)]
    for c in cases:
        first = next(s for s in summary if s["case"] == c)
        cells = [first["title"]]
        for x in servers:
            s = by.get((c, x))
            cells.append(cpu_cell(s) if s else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def svg_chart(summary):
    """One panel per case; bars show each server relative to the ceiling (or to the best
    server when the ceiling did not run), longer is better; labels give the raw values."""
    cases = []
    for s in summary:
        if s["case"] not in cases:
            cases.append(s["case"])
    width, left, right, bar_h, gap = 860, 190, 150, 18, 4
    plot_w = width - left - right
    parts, y = [], 40
    for c in cases:
        rows = [s for s in summary if s["case"] == c and s["value"] is not None]
        if not rows:
            continue
        higher = rows[0]["higher_is_better"]
        score = {s["server"]: (s["value"] if higher else (1 / s["value"] if s["value"] else 0)) for s in rows}
        ref = score.get("ceiling") or max(score.values()) or 1
        top = max(max(score.values()) / ref, 1.0)
        arrow = "higher is better" if higher else "lower is better"
        parts.append(f'<text x="10" y="{y}" class="h">{escape(rows[0]["title"])} — '
                     f'{escape(rows[0]["metric_label"])} ({arrow})</text>')
        y += 8
        for s in rows:
            w = plot_w * (score[s["server"]] / ref) / top
            color = COLORS.get(s["server"], "#495057")
            parts.append(f'<text x="{left - 8}" y="{y + bar_h - 5}" class="l">'
                         f'{escape(NAMES.get(s["server"], s["server"]))}</text>')
            parts.append(f'<rect x="{left}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" fill="{color}"/>')
            parts.append(f'<text x="{left + max(w, 1) + 6:.1f}" y="{y + bar_h - 5}" class="v">'
                         f'{escape(detail(s))}</text>')
            y += bar_h + gap
        y += 26
    height = y
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif">'
            '<style>.h{font-size:13px;font-weight:bold}.l{font-size:12px;text-anchor:end}'
            '.v{font-size:11px;fill:#343a40}.t{font-size:15px;font-weight:bold}</style>'
            f'<rect width="{width}" height="{height}" fill="white"/>'
            '<text x="10" y="22" class="t">Sockeye benchmark: bars scaled to the ceiling (or to the '
            'best server); longer is better</text>')
    return head + "".join(parts) + "</svg>\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw", help="results file: one JSON object per line")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    ap.add_argument("--stamp", default=None, help="suffix for the output files")
    a = ap.parse_args()
    rows = []
    with open(a.raw) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    print(f"report: skipping a line that is not JSON: {line[:80]}", file=sys.stderr)
    summary = summarise(rows)
    if not summary:
        print("report: no results to summarise", file=sys.stderr)
        return 1
    os.makedirs(a.out, exist_ok=True)
    stamp = a.stamp or os.path.splitext(os.path.basename(a.raw))[0].removeprefix("raw-")
    md = markdown(summary)
    outputs = {
        f"summary-{stamp}.json": json.dumps(summary, indent=1) + "\n",
        f"table-{stamp}.md": md,
        f"chart-{stamp}.svg": svg_chart(summary),
    }
    for name, text in outputs.items():
        for target in (name, name.replace(f"-{stamp}", "")):
            with open(os.path.join(a.out, target), "w") as f:
                f.write(text)
    cols = ["case", "server", "metric", "value", "ratio_to_sockeye", "ratio_to_ceiling",
            "pair_ratio_to_sockeye", "pair_ratio_to_ceiling", "runs", "ok_runs"] + FIELDS
    for target in (f"summary-{stamp}.csv", "summary.csv"):
        with open(os.path.join(a.out, target), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            w.writerows(summary)
    print(md)
    print(f"report: wrote summary-{stamp}.json/.csv, table-{stamp}.md, chart-{stamp}.svg "
          f"(and the latest copies summary.*, table.md, chart.svg) in {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
