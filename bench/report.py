#!/usr/bin/env python3
"""Summarises a bench/run.sh results file (one JSON line per run): medians per (case, server),
ratios to Sockeye and to the ceiling, server CPU per message; the user configurations
(Sockeye and socketioxide as their READMEs mount them) beside the ceiling and the tuned
Sockeye; for the cluster cases (xbcast-*: two nodes and Redis) Sockeye / Node and the "Redis
hop" (p99 of the cluster minus p99 of the single-node case at the same load); writes JSON,
CSV, Markdown tables and an SVG chart. Standard library only.

    python3 bench/report.py bench/results/raw-<stamp>.jsonl --out bench/results [--stamp S]
"""
import argparse
import csv
import json
import os
import statistics
import sys
from html import escape

SERVERS = ["sockeye", "sockeye-user", "ceiling", "floor-user", "node", "socketioxide",
           "socketioxide-user", "python"]
NAMES = {
    "sockeye": "Sockeye (tuned)",
    "sockeye-user": "Sockeye (user config)",
    "ceiling": "ceiling (limit-server)",
    "floor-user": "floor (user config, no Socket.IO)",
    "node": "Node socket.io",
    "socketioxide": "socketioxide (tuned)",
    "socketioxide-user": "socketioxide (user config)",
    "python": "python-socketio",
}
# What the two configurations are (the tables' notes say it too).
CONFIGS = ("tuned: `sockeye::serve` (socketioxide: `axum::serve`), one current-thread worker "
           "pinned to a CPU, fat LTO and one codegen unit, Sockeye's heap in huge pages; "
           "user config: the README's library example (axum, `axum::serve`, `#[tokio::main]`'s "
           "multi-thread runtime with one worker per CPU), a crate of its own built with plain "
           "`cargo build --release`, not pinned, no huge pages")
COLORS = {
    "sockeye": "#d9480f",
    "sockeye-user": "#f08c00",
    "ceiling": "#868e96",
    "floor-user": "#ced4da",
    "node": "#2f9e44",
    "socketioxide": "#1971c2",
    "socketioxide-user": "#74c0fc",
    "python": "#7048e8",
}
# The case's headline metric: (field, label, higher is better).
PRIMARY = {
    "connect": ("rss_per_conn_kib", "KiB per idle connection (server RSS)", False),
    "connect-upgrade": ("server_cpu_us_per_msg", "server CPU µs per connection", False),
    "storm": ("storm_all_back_s", "seconds from the restart until every client is back",
              False),
    "echo-rate": ("server_cpu_pct", "server CPU % at the fixed rate", False),
    "echo": ("msgs_per_server_cpu_s", "messages per server CPU-second", True),
    "broadcast": ("deliveries_per_server_cpu_s", "deliveries per server CPU-second", True),
}
CASE_TITLES = {
    "connect-10k": "connect 10k",
    "connect-upgrade-10k": "connect 10k, polling then upgrade",
    "storm-10k": "reconnect storm, 10k clients",
    "echo-100": "echo, 100 clients closed loop",
    "echo-20k": "echo at 20k msg/s",
    "bcast-1k-100": "broadcast 1k x 100/s",
    "bcast-10k-10": "broadcast 10k x 10/s",
    "bcast-10k-100": "broadcast 10k x 100/s",
    "echo-polling": "echo over polling, closed loop",
    "xbcast-1k-100": "cluster broadcast 1k x 100/s",
    "xbcast-10k-10": "cluster broadcast 10k x 10/s",
    "xbcast-10k-100": "cluster broadcast 10k x 100/s",
    "bcast-1k-5-deflate": "broadcast 1k x 5/s, 1 KiB JSON, permessage-deflate",
    "echo-100-msgpack": "echo, 100 clients closed loop, msgpack parser",
    "bcast-1k-100-msgpack": "broadcast 1k x 100/s, msgpack parser",
}
# A cluster case (two nodes of one server and their Redis, the subscribers split over the
# nodes) and the single-node case with the same load: the baseline of its "Redis hop".
CLUSTER_BASELINE = {
    "xbcast-1k-100": "bcast-1k-100",
    "xbcast-10k-10": "bcast-10k-10",
    "xbcast-10k-100": "bcast-10k-100",
}
# The processes of a cluster run, in the order run.sh passes their pids (server_cpu_s_each).
CLUSTER_PROCS = ["node1", "node2", "redis"]
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
    "rx_bytes_per_msg",
    "rss_per_conn_kib",
    "connects_per_s",
    "loadgen_cpu_s",
    # The storm: time until all are back, failed attempts by cause, the restart's downtime.
    "storm_all_back_s",
    "not_back",
    "refused",
    "timed_out",
    "attempt_errors",
    "restart_down_s",
    # Connections the kernel dropped at a full accept queue (ramp; storm).
    "listen_drops",
    # Cluster runs: each process's CPU per delivery, and each node's subscribers' p99.
    "node1_cpu_us_per_msg",
    "node2_cpu_us_per_msg",
    "redis_cpu_us_per_msg",
    "node1_p99_us",
    "node2_p99_us",
]


def is_cluster(case):
    return case in CLUSTER_BASELINE


def kind(row):
    sc = row.get("scenario")
    if sc == "echo" and row.get("mode") == "rate":
        return "echo-rate"
    if sc == "connect" and row.get("transport") == "upgrade":
        return "connect-upgrade"
    return sc or "?"


def flat(row):
    lat = row.get("latency_us") or {}
    out = dict(row)
    out["p50_us"] = lat.get("p50")
    out["p99_us"] = lat.get("p99")
    out["p999_us"] = lat.get("p999")
    each = row.get("server_cpu_s_each") or []
    delivered = row.get("delivered") or 0
    if len(each) == len(CLUSTER_PROCS) and delivered:
        for name, cpu in zip(CLUSTER_PROCS, each):
            out[f"{name}_cpu_us_per_msg"] = cpu * 1e6 / delivered if cpu is not None else None
    for name, a in zip(CLUSTER_PROCS, row.get("by_addr") or []):
        out[f"{name}_p99_us"] = (a.get("latency_us") or {}).get("p99")
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
        if is_cluster(case):
            label = "deliveries per CPU-second of both nodes and Redis"
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
            for ref in ("sockeye", "ceiling", "node"):
                rv = med.get(ref, {}).get(field)
                m[f"ratio_to_{ref}"] = (v / rv) if (v is not None and rv) else None
                mine, theirs = by_run.get(server, {}), by_run.get(ref, {})
                m[f"pair_ratio_to_{ref}"] = median(
                    mine[n] / theirs[n] for n in mine
                    if isinstance(mine[n], (int, float)) and isinstance(theirs.get(n), (int, float))
                    and theirs[n])
            if is_cluster(case):
                # The Redis hop: what the cluster adds to the p99 of one server at the same
                # load, as the difference of the medians and as the median of the per-run
                # differences (run n of both cases, minutes apart at most).
                base = [r for r in groups.get(CLUSTER_BASELINE[case], {}).get(server, [])
                        if r.get("scenario")]
                base_p99 = median(r.get("p99_us") for r in base)
                m["baseline_case"] = CLUSTER_BASELINE[case]
                m["baseline_p99_us"] = base_p99
                m["redis_hop_us"] = (m["p99_us"] - base_p99
                                     if m.get("p99_us") is not None and base_p99 is not None else None)
                base_by_run = {r.get("run"): r.get("p99_us") for r in base}
                m["pair_redis_hop_us"] = median(
                    r["p99_us"] - base_by_run[r.get("run")] for r in by_server[server]
                    if r.get("scenario") and isinstance(r.get("p99_us"), (int, float))
                    and isinstance(base_by_run.get(r.get("run")), (int, float)))
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
    if s["case"].endswith(("-deflate", "-msgpack")) and s.get("rx_bytes_per_delivery") is not None:
        # What compression (and msgpack) is for: the bytes each subscriber reads per tick.
        extra.append(f"{fmt(s['rx_bytes_per_delivery'])} B on the wire per delivery")
    if s["case"].endswith("-msgpack") and s.get("rx_bytes_per_msg") is not None:
        extra.append(f"{fmt(s['rx_bytes_per_msg'])} B on the wire per echo")
    if s["scenario"] == "connect-upgrade" and s.get("connects_per_s") is not None:
        extra.append(f"{fmt(s['connects_per_s'])} conn/s")
    if s["scenario"] == "storm":
        if s.get("not_back"):
            extra.append(f"{fmt(s['not_back'])} not back")
        failed = [(s.get(k), label) for k, label in
                  (("refused", "refused"), ("timed_out", "timed out"),
                   ("attempt_errors", "other errors"))]
        extra.append(", ".join(f"{fmt(v) if v else 0} {label}" for v, label in failed))
    if s["scenario"] in ("storm", "connect-upgrade", "connect") and s.get("listen_drops"):
        extra.append(f"{fmt(s['listen_drops'])} listen drops")
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


def ms(us):
    return "–" if us is None else f"{us / 1000:.2f} ms"


def signed_ms(us):
    return "–" if us is None else f"{us / 1000:+.2f} ms"


def cluster_markdown(summary):
    """The cluster cases: Sockeye's two nodes and Redis against Node's, and the Redis hop."""
    by = {(s["case"], s["server"]): s for s in summary}
    cases = []
    for s in summary:
        if is_cluster(s["case"]) and s["case"] not in cases:
            cases.append(s["case"])
    if not cases:
        return []
    lines = [
        "Cluster broadcast: two nodes of the same server on one Redis, the subscribers split "
        "over both nodes, the publisher on node 1; deliveries per CPU-second of all three "
        "processes (both nodes and Redis), medians. The Redis hop is the p99 of the cluster "
        "minus the p99 of one server at the same load (its single-node case in the same run); "
        "in brackets the median of the per-run differences:",
        "",
    ]
    head = ["scenario", "Sockeye: deliveries per CPU-s", "Node: deliveries per CPU-s",
            "Sockeye / Node", "same, per-run pairs", "p99 Sockeye", "p99 Node",
            "delivery ratio Sockeye / Node", "Redis hop Sockeye", "Redis hop Node"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cases:
        sk, nd = by.get((c, "sockeye"), {}), by.get((c, "node"), {})
        first = sk or nd
        cells = [first["title"],
                 detail(sk) if sk else "–",
                 detail(nd) if nd else "–"]
        for key in ("ratio_to_node", "pair_ratio_to_node"):
            r = sk.get(key)
            cells.append(f"{r:.2f}x" if r is not None else "–")
        cells += [ms(sk.get("p99_us")), ms(nd.get("p99_us")),
                  f"{fmt(sk.get('delivery_ratio'), 'delivery_ratio')} / "
                  f"{fmt(nd.get('delivery_ratio'), 'delivery_ratio')}"]
        for x in (sk, nd):
            hop = x.get("redis_hop_us")
            cells.append("–" if hop is None else
                         f"{signed_ms(hop)} ({signed_ms(x.get('pair_redis_hop_us'))}; "
                         f"single node {ms(x.get('baseline_p99_us'))})")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Where the cluster's CPU goes (µs per delivery, medians: node 1 with the publisher, "
        "node 2 behind Redis, Redis; then the total with its user + system split) and each "
        "node's p99:",
        "",
    ]
    head = ["scenario", "server", "node 1", "node 2", "Redis", "total (user + system)",
            "p99 node 1", "p99 node 2"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in cases:
        for server in ("sockeye", "node"):
            x = by.get((c, server))
            if not x:
                continue
            lines.append("| " + " | ".join([
                x["title"], NAMES.get(server, server),
                fmt(x.get("node1_cpu_us_per_msg")), fmt(x.get("node2_cpu_us_per_msg")),
                fmt(x.get("redis_cpu_us_per_msg")), cpu_cell(x),
                ms(x.get("node1_p99_us")), ms(x.get("node2_p99_us"))]) + " |")
    return lines


def markdown(summary):
    cluster = cluster_markdown(summary)
    summary = [s for s in summary if not is_cluster(s["case"])]
    if not summary:
        return "\n".join(cluster) + "\n"
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
    lines.append("Sockeye / ceiling is the ratio of the two medians, for the tuned Sockeye; "
                 "\"per-run pairs\" is the median of run n of Sockeye over run n of the ceiling "
                 f"(run back to back). The configurations: {CONFIGS}. A storm's failed attempts "
                 "are the medians of the reconnection attempts that failed, by cause.")
    lines.append("")
    lines.append("Server CPU per message (µs of server CPU per delivered message or echo; "
                 "for connect, per connection during the ramp; for the storm, per "
                 "reconnection, from the restarted server's start until every client is back), "
                 "medians; in brackets the user (the server's own code) and system (kernel, "
                 "mostly TCP) parts, each a median of its own:")
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
    user = user_markdown(summary)
    if user:
        lines += [""] + user
    if cluster:
        lines += [""] + cluster
    return "\n".join(lines) + "\n"


def user_markdown(summary):
    """The user configurations: Sockeye as the README mounts it, against the ceiling, the tuned
    Sockeye and socketioxide in the same configuration (as issue 17 put them side by side)."""
    by = {(s["case"], s["server"]): s for s in summary}
    if not any(s["server"] == "sockeye-user" for s in summary):
        return []
    cases = []
    for s in summary:
        if s["case"] not in cases:
            cases.append(s["case"])
    # Each case's headline metric, then the extra metrics of the connection scenarios.
    rows = []
    for c in cases:
        first = next(s for s in summary if s["case"] == c)
        rows.append((c, first["metric"], f"{first['title']}: {first['metric_label']}",
                     first["higher_is_better"]))
        if first["scenario"] == "connect":
            rows.append((c, "server_cpu_us_per_msg",
                         f"{first['title']}: server CPU µs per connection", False))
        if first["scenario"] == "connect-upgrade":
            rows.append((c, "connects_per_s", f"{first['title']}: connections per second",
                         True))
        if first["scenario"] == "storm":
            rows.append((c, "server_cpu_us_per_msg",
                         f"{first['title']}: server CPU µs per reconnection", False))
    head = ["scenario (metric)", NAMES["sockeye-user"], "/ ceiling", "/ Sockeye (tuned)",
            NAMES["floor-user"], "floor / ceiling", "Sockeye (user config) / floor",
            NAMES["socketioxide-user"], "Sockeye / socketioxide (both user config)",
            NAMES["node"], "Sockeye (user config) / Node"]
    lines = [
        f"The user configurations ({CONFIGS}), medians; each ratio is Sockeye's (user config) "
        "median over the other's (below 1 is better where lower is better):",
        "",
        "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
    ]

    def val(case, server, field):
        return by.get((case, server), {}).get(field)

    def ratio(a, b):
        return f"{a / b:.3f}" if a is not None and b else "–"

    for c, field, label, higher in rows:
        mine = val(c, "sockeye-user", field)
        if mine is None and (c, "sockeye-user") not in by:
            continue
        arrow = "higher is better" if higher else "lower is better"
        theirs = val(c, "socketioxide-user", field)
        node = val(c, "node", field)
        floor = val(c, "floor-user", field)
        lines.append("| " + " | ".join([
            f"{label} ({arrow})", fmt(mine, field),
            ratio(mine, val(c, "ceiling", field)), ratio(mine, val(c, "sockeye", field)),
            fmt(floor, field), ratio(floor, val(c, "ceiling", field)), ratio(mine, floor),
            fmt(theirs, field), ratio(mine, theirs), fmt(node, field), ratio(mine, node),
        ]) + " |")
    return lines


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
            "ratio_to_node", "pair_ratio_to_sockeye", "pair_ratio_to_ceiling",
            "pair_ratio_to_node", "baseline_p99_us", "redis_hop_us", "pair_redis_hop_us",
            "runs", "ok_runs"] + FIELDS
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
