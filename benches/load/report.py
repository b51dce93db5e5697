#!/usr/bin/env python3
"""Turns a run of bench.py (raw.jsonl, meta.json, lost_updates.json in OUT_DIR) into results.json, results.md and
chart.svg in the same directory. Medians over the repetitions; ratios against the targets of issue 8 (and of
issue 15 for ours on actix-web).

Usage: report.py [OUT_DIR]   (default: benches/load/results)
"""

import json
import math
import os
import statistics
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "results")

SYSTEM_ORDER = ["ours-memory", "ours-redis", "tower-memory", "tower-redis", "ours-actix-memory", "ours-actix-redis",
                "ours-actix-redis-main", "actix-cookie", "actix-redis", "express-memory", "express-redis", "ceiling", "actix-none",
                "ours-memory-2w", "tower-memory-2w", "ceiling-2w"]
# The systems on actix-web: measured against actix-web's own ceiling (no session middleware), and ours on actix
# against actix-session.
ACTIX = {"ours-actix-memory", "ours-actix-redis", "ours-actix-redis-main", "actix-cookie", "actix-redis", "actix-none"}
# Each system's peer for the "vs peer" column: actix-session's store of the same kind for ours on actix,
# tower-sessions' for the rest.
PEER = {"ours-actix-memory": "actix-cookie", "ours-actix-redis": "actix-redis", "ours-actix-redis-main": "actix-redis",
        "ours-memory-2w": "tower-memory-2w", "tower-memory-2w": "tower-memory-2w", "ceiling-2w": "tower-memory-2w"}
# The two-worker apps (the multi-thread row) against the two-worker ceiling.
TWO_WORKERS = {"ours-memory-2w", "tower-memory-2w", "ceiling-2w"}
SCENARIO_ORDER = ["S1", "S2", "S3", "S4"]
SCENARIO_TEXT = {
    "S1": "S1: returning clients, `GET /foo` counts a view (each with its own valid cookie)",
    "S2": "S2: new clients, `GET /foo` without a cookie (one new session per request)",
    "S3": "S3: returning clients, `GET /static` (under the layer, never touches the session)",
    "S4": "S4: returning clients whose sessions hold 1 KiB, `GET /foo`",
}
COLORS = {
    "ours-memory": "#1f5fbf", "ours-redis": "#7fa8e6", "tower-memory": "#e07b00", "tower-redis": "#f5b461",
    "actix-cookie": "#2e8b3e", "actix-redis": "#8fcf8f", "express-memory": "#c0392b", "express-redis": "#f1948a",
    "ceiling": "#7f7f7f", "ours-actix-memory": "#5b2c8f", "ours-actix-redis": "#b48fe0", "actix-none": "#3f3f3f",
    "ours-actix-redis-main": "#d8c4f0", "ours-memory-2w": "#0b2f66", "tower-memory-2w": "#8a4b00",
    "ceiling-2w": "#bfbfbf",
}
RUST_PEERS_IN_PROCESS = ["tower-memory", "actix-cookie"]


def load():
    rows = [json.loads(line) for line in open(os.path.join(OUT, "raw.jsonl")) if line.strip()]
    meta = json.load(open(os.path.join(OUT, "meta.json")))
    lost_path = os.path.join(OUT, "lost_updates.json")
    lost = json.load(open(lost_path)) if os.path.exists(lost_path) else []
    hot_path = os.path.join(OUT, "hot_session.json")
    meta["hot"] = json.load(open(hot_path)) if os.path.exists(hot_path) else []
    return rows, meta, lost


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def core_use(r):
    """The share of core 0 the measurement got: the server's CPU plus, for Redis systems, the Redis server's."""
    return r["server_cpu_util"] + (r.get("redis_cpu_us_per_req") or 0) * r["rps"] / 1e6


CLEAN = 0.9  # a repetition where core 0 was busy less than this was disturbed by another process


def summarize(rows):
    groups = defaultdict(list)
    for r in rows:
        groups[(r["system"], r["scenario"])].append(r)
    summary = {}
    for (system, scenario), all_rs in groups.items():
        # Medians over the undisturbed repetitions (core 0 at least 90 % busy with this measurement) when at least
        # two are; else over all of them.
        clean = [r for r in all_rs if core_use(r) >= CLEAN]
        rs = clean if len(clean) >= 2 else all_rs
        s = {
            "runs": len(rs),
            "runs_total": len(all_rs),
            "rps": med([r["rps"] for r in rs]),
            "rps_min": min(r["rps"] for r in rs),
            "rps_max": max(r["rps"] for r in rs),
            "p99_ms": med([r["p99_ms"] for r in rs]),
            "cpu_us_per_req": med([r["cpu_us_per_req"] for r in rs]),
            "server_cpu_util": med([r["server_cpu_util"] for r in rs]),
            "ctx_switches_per_req": med([r.get("ctx_switches_per_req") for r in rs]),
            "redis_cpu_us_per_req": med([r.get("redis_cpu_us_per_req") for r in rs]),
            "peak_rss_mib": med([r["hwm_kb"] / 1024 for r in rs]),
            "errors": sum(r["non_2xx"] + r["socket_errors"] for r in rs),
        }
        if scenario == "S2":
            per_session = [(r["rss_after_kb"] - r["rss_before_kb"]) * 1024 / r["requests"] for r in rs if r["requests"]]
            s["rss_bytes_per_new_session"] = med(per_session)
            s["rss_mib_per_100k_sessions"] = med([b * 100_000 / 2**20 for b in per_session])
        summary.setdefault(system, {})[scenario] = s
    return summary


def ratio(summary, a, b, scenario, key="rps"):
    try:
        x, y = summary[a][scenario][key], summary[b][scenario][key]
    except KeyError:
        return None
    if x is None or y is None or y == 0:
        return None
    return x / y


def cpu_ratio(summary, a, b, scenario):
    """How many times less CPU per request `a` uses than `b` (the throughput ratio a CPU-bound server would show)."""
    r = ratio(summary, b, a, scenario, "cpu_us_per_req")
    return r


def ceiling_of(system):
    if system in TWO_WORKERS:
        return "ceiling-2w"
    return "actix-none" if system in ACTIX else "ceiling"


def peer_of(system):
    if system in PEER:
        return PEER[system]
    return "tower-redis" if system.endswith("redis") else "tower-memory"


def targets(summary, meta, lost):
    out = []

    def best_peer(scenario, peers, key):
        cands = [(summary[p][scenario][key], p) for p in peers if p in summary and scenario in summary[p]]
        if not cands:
            return None
        return (max(cands) if key == "rps" else min(cands))[1]

    def add(name, scenario, ours, other, goal):
        if not any(scenario in v for v in summary.values()):
            return
        # `other` is a system, or a list of peers: the best of them (by req/s for the req/s ratio, by CPU µs per
        # request for the CPU ratio).
        peers = other if isinstance(other, list) else [other]
        by_rps = best_peer(scenario, peers, "rps")
        by_cpu = best_peer(scenario, peers, "cpu_us_per_req")
        if ours not in summary or by_rps is None:
            out.append({"target": name, "scenario": scenario, "ours": ours, "vs": by_rps, "vs_cpu": by_cpu,
                        "goal": goal, "rps_ratio": None, "cpu_ratio": None, "met": None})
            return
        r = ratio(summary, ours, by_rps, scenario)
        c = cpu_ratio(summary, ours, by_cpu, scenario)
        out.append({"target": name, "scenario": scenario, "ours": ours, "vs": by_rps, "vs_cpu": by_cpu,
                    "goal": goal, "rps_ratio": r, "cpu_ratio": c,
                    "met": (r is not None and r >= goal), "met_cpu": (c is not None and c >= goal)})

    add("S1 MemoryStore >= 85% of the ceiling", "S1", "ours-memory", "ceiling", 0.85)
    add("S1 MemoryStore >= 1.3x the best Rust peer", "S1", "ours-memory", RUST_PEERS_IN_PROCESS, 1.3)
    add("S3 >= 97% of the ceiling", "S3", "ours-memory", "ceiling", 0.97)
    add("S2 >= 1.3x the best Rust peer", "S2", "ours-memory", RUST_PEERS_IN_PROCESS, 1.3)
    add("S1 Redis >= 1.3x tower-sessions' Redis store", "S1", "ours-redis", "tower-redis", 1.3)
    # Issue 15: ours on actix-web against actix-session, on the same framework.
    add("S1 ours on actix, MemoryStore >= actix-session's CookieSessionStore", "S1", "ours-actix-memory",
        "actix-cookie", 1.0)
    add("S2 ours on actix, MemoryStore >= actix-session's CookieSessionStore", "S2", "ours-actix-memory",
        "actix-cookie", 1.0)
    add("S1 ours on actix, Redis >= 1.2x actix-session's RedisSessionStore, 0 lost updates", "S1",
        "ours-actix-redis", "actix-redis", 1.2)
    if out and out[-1]["ours"] == "ours-actix-redis":
        counted = [entry for entry in lost if entry["system"] == "ours-actix-redis"]
        lost_n = counted[0]["lost"] if counted else None
        out[-1]["lost"] = lost_n
        for key in ("met", "met_cpu"):
            if out[-1].get(key) is not None:
                out[-1][key] = out[-1][key] and lost_n == 0
    for scenario in SCENARIO_ORDER:
        add(f"{scenario} >= 10x express-session (MemoryStore)", scenario, "ours-memory", "express-memory", 10)
        add(f"{scenario} >= 10x express-session (Redis)", scenario, "ours-redis", "express-redis", 10)
    # Memory per idle session.
    record = meta.get("record_bytes")
    s2 = summary.get("ours-memory", {}).get("S2", {})
    per = s2.get("rss_bytes_per_new_session")
    out.append({"target": "MemoryStore memory per idle session <= 2x its JSON record", "scenario": "S2",
                "ours": "ours-memory", "vs": f"JSON record, {record} bytes" if record else "JSON record",
                "goal": 2, "bytes_per_session": per, "record_bytes": record,
                "rps_ratio": (per / record) if (per and record) else None, "cpu_ratio": None,
                "met": (per / record <= 2) if (per and record) else None})
    return out


def fmt(x, digits=0):
    if x is None:
        return "—"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def markdown(summary, meta, lost, tgts):
    labels = meta["labels"]
    lines = []
    lines.append(f"Run {meta['started']} – {meta.get('finished', '?')}: {meta['reps']} repetition(s), "
                 f"{meta['duration_s']} s per measurement after a {meta['warmup_s']} s warm-up, "
                 f"{meta['connections']} connections; server on core 0, wrk on core 1. Load average at start "
                 f"`{meta['uptime_at_start']}`, at end `{meta.get('uptime_at_end', '?')}`. Medians over the "
                 f"repetitions in which core 0 was at least {CLEAN:.0%} busy with the measurement (server + its "
                 f"Redis); the `runs` column says how many of them that was. Other processes shared the machine "
                 f"during the run: CPU µs per request is the figure to trust, req/s moves with the noise.")
    lines.append("")
    for scenario in SCENARIO_ORDER:
        systems = [s for s in SYSTEM_ORDER if s in summary and scenario in summary[s]]
        if not systems:
            continue
        lines.append(f"**{SCENARIO_TEXT[scenario]}**")
        lines.append("")
        head = "| system | req/s | vs ceiling (same framework) | vs peer (same store kind) | p99 ms | CPU µs/req | Redis CPU µs/req | server CPU use | peak RSS MiB | runs |"
        sep = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        if scenario == "S2":
            head += " RSS growth / 100k sessions MiB |"
            sep += "---:|"
        lines += [head, sep]
        for system in systems:
            s = summary[system][scenario]
            tower = peer_of(system)
            vs_tower = ratio(summary, system, tower, scenario)
            vs_ceiling = ratio(summary, system, ceiling_of(system), scenario)
            row = (f"| {labels.get(system, system)} | {fmt(s['rps'])} | "
                   f"{fmt(vs_ceiling * 100, 0) + ' %' if vs_ceiling else '—'} | "
                   f"{fmt(vs_tower, 2) + 'x' if vs_tower and system != tower else '—'} | {fmt(s['p99_ms'], 2)} | "
                   f"{fmt(s['cpu_us_per_req'], 1)} | {fmt(s['redis_cpu_us_per_req'], 1)} | "
                   f"{fmt(s['server_cpu_util'] * 100, 0)} % | {fmt(s['peak_rss_mib'], 1)} | "
                   f"{s['runs']}/{s['runs_total']} |")
            if scenario == "S2":
                row += f" {fmt(s.get('rss_mib_per_100k_sessions'), 1)} |"
            if s["errors"]:
                row = row.replace(f"| {labels.get(system, system)} |", f"| {labels.get(system, system)} ({s['errors']} errors) |", 1)
            lines.append(row)
        lines.append("")
    lines.append("**Targets** (throughput ratio from req/s; CPU ratio = the other system's CPU µs/req ÷ ours, the "
                 "noise-robust form of the same comparison)")
    lines.append("")
    lines.append("| target | vs | goal | req/s ratio | CPU ratio | met (req/s) | met (CPU) |")
    lines.append("|---|---|---:|---:|---:|---|---|")
    for t in tgts:
        if "bytes_per_session" in t:
            got = (f"{fmt(t['bytes_per_session'])} B/session = {fmt(t['rps_ratio'], 2)}x"
                   if t["rps_ratio"] else "—")
            lines.append(f"| {t['target']} | {t['vs']} | ≤ {t['goal']}x | {got} | — | "
                         f"{'yes' if t['met'] else ('no' if t['met'] is False else '—')} | — |")
            continue
        vs = labels.get(t["vs"], t["vs"]) if t["vs"] else "—"
        if t.get("vs_cpu") and t["vs_cpu"] != t["vs"]:
            vs += f" (CPU: {labels.get(t['vs_cpu'], t['vs_cpu'])})"
        yn = lambda v: "yes" if v else ("no" if v is False else "—")
        target = t["target"]
        if "lost" in t:
            target += f" (lost: {t['lost'] if t['lost'] is not None else 'not measured'})"
        lines.append(f"| {target} | {vs} | {t['goal']}x | {fmt(t['rps_ratio'], 2)} | {fmt(t['cpu_ratio'], 2)} | "
                     f"{yn(t['met'])} | {yn(t.get('met_cpu'))} |")
    lines.append("")
    lines += actix_table(summary, labels)
    lines += two_workers_table(summary, labels)
    lines += hot_table(meta, labels)
    if lost:
        lines.append(f"**Lost updates**: {meta['connections']} connections send {meta['lost_n']:,} `GET /foo` with ONE "
                     "session cookie; the counter should grow by every one of them.")
        lines.append("")
        lines.append("| system | requests answered 200 | views counted | lost | kept | req/s on one session |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for l in lost:
            rps = l["ok"] / l["seconds"] if l.get("seconds") else None
            if l["note"]:
                lines.append(f"| {labels.get(l['system'], l['system'])} | {l['ok']:,} | n/a | n/a | n/a ({l['note']}) "
                             f"| {fmt(rps)} |")
                continue
            kept_pct = 100 * l["kept"] / l["ok"] if l["ok"] else 0
            lines.append(f"| {labels.get(l['system'], l['system'])} | {l['ok']:,} | {l['kept']:,} | "
                         f"{l['lost']:,} | {kept_pct:.1f} % | {fmt(rps)} |")
        lines.append("")
    return "\n".join(lines)


def actix_table(summary, labels):
    """Ours on actix-web and actix-session side by side, each against actix-web without sessions: what the session
    middleware costs per request (CPU µs above the ceiling's)."""
    pairs = [("ours-actix-memory", "actix-cookie"), ("ours-actix-redis", "actix-redis")]
    if "actix-none" not in summary or not any(a in summary for a, _ in pairs):
        return []
    lines = ["**On actix-web**: server CPU µs per request, and what the session middleware adds to the ceiling's "
             "(actix-web without sessions; for the Redis systems, plus the Redis server's CPU per request).", "",
             "| scenario | actix-web ceiling | ours, MemoryStore | actix-session, cookie | ours ÷ cookie (CPU) | "
             "ours, RedisStore (+ Redis) | actix-session, Redis (+ Redis) | ours ÷ Redis peer (CPU, server only) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]

    def cell(system, scenario, base):
        s = summary.get(system, {}).get(scenario)
        if not s or s["cpu_us_per_req"] is None:
            return "—"
        text = f"{s['cpu_us_per_req']:.1f}"
        if s.get("redis_cpu_us_per_req") is not None:
            text += f" (+ {s['redis_cpu_us_per_req']:.1f})"
        if base is not None:
            text += f", +{s['cpu_us_per_req'] - base:.1f}"
        return text

    for scenario in SCENARIO_ORDER:
        ceiling = summary["actix-none"].get(scenario)
        if not ceiling:
            continue
        base = ceiling["cpu_us_per_req"]
        lines.append(f"| {scenario} | {base:.1f} | {cell('ours-actix-memory', scenario, base)} | "
                     f"{cell('actix-cookie', scenario, base)} | "
                     f"{fmt(cpu_ratio(summary, 'ours-actix-memory', 'actix-cookie', scenario), 2)} | "
                     f"{cell('ours-actix-redis', scenario, base)} | {cell('actix-redis', scenario, base)} | "
                     f"{fmt(cpu_ratio(summary, 'ours-actix-redis', 'actix-redis', scenario), 2)} |")
    lines.append("")
    return lines


def two_workers_table(summary, labels):
    """The multi-thread row: each axum app with one worker thread and with two (both pinned to core 0)."""
    trios = [("ours-memory", "ours-memory-2w"), ("tower-memory", "tower-memory-2w"), ("ceiling", "ceiling-2w")]
    if not any(two in summary for _, two in trios):
        return []
    lines = ["**One worker thread or two** (both on core 0): server CPU µs per request and context switches per "
             "request of the server's threads; ours ÷ tower-sessions in CPU (higher is better for ours).", "",
             "| scenario | system | 1 worker CPU µs | 2 workers CPU µs | 2 ÷ 1 | cs/req, 1 worker | cs/req, 2 workers |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for scenario in SCENARIO_ORDER:
        for one, two in trios:
            a, b = summary.get(one, {}).get(scenario), summary.get(two, {}).get(scenario)
            if not b:
                continue
            cpu_a = a["cpu_us_per_req"] if a else None
            cpu_b = b["cpu_us_per_req"]
            lines.append(f"| {scenario} | {labels.get(one, one)} | {fmt(cpu_a, 1)} | {fmt(cpu_b, 1)} | "
                         f"{fmt(cpu_b / cpu_a if cpu_a else None, 2)} | "
                         f"{fmt(a.get('ctx_switches_per_req') if a else None, 2)} | "
                         f"{fmt(b.get('ctx_switches_per_req'), 2)} |")
        r1 = cpu_ratio(summary, "ours-memory", "tower-memory", scenario)
        r2 = cpu_ratio(summary, "ours-memory-2w", "tower-memory-2w", scenario)
        if r2 is not None:
            lines.append(f"| {scenario} | ours ÷ tower-sessions (CPU) | {fmt(r1, 2)}x | {fmt(r2, 2)}x | | | |")
    lines.append("")
    return lines


def hot_table(meta, labels):
    """The hot-session row: medians over the repetitions, and the kept share of each."""
    hot = meta.get("hot") or []
    if not hot:
        return []
    by = defaultdict(list)
    for h in hot:
        by[h["system"]].append(h)
    lines = [f"**Hot session**: {meta['connections']} connections send {meta.get('hot_n', 0):,} `GET /foo` with ONE "
             f"session cookie (after {meta.get('hot_warmup', 0):,} unmeasured ones), on a fresh server per "
             "repetition pinned to core 0 (the Rust apps with two worker threads, express on its one thread); "
             "medians over the repetitions.", "",
             "| system | req/s | CPU µs/req | cs/req | answered 200 | updates kept (counter growth ÷ 200s), each run |",
             "|---|---:|---:|---:|---:|---|"]
    for system, hs in by.items():
        kept = ", ".join(f"{100 * h['kept'] / h['ok']:.1f} %" if h["ok"] else "—" for h in hs)
        lines.append(f"| {labels.get(system, system)} | {fmt(med([h['rps'] for h in hs]))} | "
                     f"{fmt(med([h['cpu_us_per_req'] for h in hs]), 1)} | "
                     f"{fmt(med([h.get('ctx_switches_per_req') for h in hs]), 2)} | "
                     f"{fmt(med([h['ok'] for h in hs]))} | {kept} |")
    lines.append("")
    return lines


def svg_chart(summary, meta):
    labels = meta["labels"]
    systems = [s for s in SYSTEM_ORDER if s in summary]
    scenarios = [s for s in SCENARIO_ORDER if any(s in summary[x] for x in systems)]
    W, panel_h, top, left, right = 1000, 300, 50, 80, 20
    legend_h = 22 * math.ceil(len(systems) / 3)
    H = top + 2 * panel_h + 100 + legend_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">View counter under load, '
           f'one server core (medians of up to {meta["reps"]} runs)</text>']
    plot_w = W - left - right
    group_w = plot_w / len(scenarios)
    bar_w = min(18, (group_w - 20) / len(systems))

    def panel(y0, key, title, log):
        values = [summary[s][sc][key] for s in systems for sc in scenarios
                  if sc in summary[s] and summary[s][sc][key]]
        vmax = max(values) if values else 1
        if log:
            lo, hi = 0, math.ceil(math.log10(vmax))
            ticks = [10 ** k for k in range(lo, hi + 1)]

            def y(v):
                return y0 + panel_h - (math.log10(max(v, 1)) - lo) / (hi - lo) * panel_h
        else:
            step = 10 ** math.floor(math.log10(vmax))
            if vmax / step < 3:
                step /= 2
            top_v = math.ceil(vmax / step) * step
            ticks = [step * k for k in range(int(top_v / step) + 1)]

            def y(v):
                return y0 + panel_h - v / top_v * panel_h
        out.append(f'<text x="{left}" y="{y0 - 10}" font-weight="bold">{title}</text>')
        for t in ticks:
            yy = y(t)
            out.append(f'<line x1="{left}" x2="{W - right}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{t:,.0f}</text>')
        for gi, sc in enumerate(scenarios):
            gx = left + gi * group_w + (group_w - bar_w * len(systems)) / 2
            for si, s in enumerate(systems):
                v = summary[s].get(sc, {}).get(key)
                if not v:
                    continue
                x = gx + si * bar_w
                yy = y(v)
                out.append(f'<rect x="{x:.1f}" y="{yy:.1f}" width="{bar_w - 2:.1f}" height="{y0 + panel_h - yy:.1f}" '
                           f'fill="{COLORS.get(s, "#999")}"><title>{labels.get(s, s)} {sc}: {v:,.1f}</title></rect>')
            out.append(f'<text x="{left + gi * group_w + group_w / 2:.1f}" y="{y0 + panel_h + 16}" '
                       f'text-anchor="middle" font-weight="bold">{sc}</text>')
        out.append(f'<line x1="{left}" x2="{W - right}" y1="{y0 + panel_h}" y2="{y0 + panel_h}" stroke="#333"/>')

    panel(top + 20, "rps", "requests per second (higher is better)", log=False)
    panel(top + panel_h + 70, "cpu_us_per_req", "server CPU µs per request (lower is better, log scale)", log=True)
    ly = top + 2 * panel_h + 100
    for i, s in enumerate(systems):
        x = left + (i % 3) * (plot_w / 3)
        yy = ly + (i // 3) * 22
        out.append(f'<rect x="{x:.1f}" y="{yy - 10}" width="12" height="12" fill="{COLORS.get(s, "#999")}"/>')
        out.append(f'<text x="{x + 18:.1f}" y="{yy}">{labels.get(s, s)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def main():
    rows, meta, lost = load()
    summary = summarize(rows)
    tgts = targets(summary, meta, lost)
    json.dump({"meta": {k: v for k, v in meta.items() if k != "hot"}, "summary": summary, "targets": tgts,
               "lost_updates": lost, "hot_session": meta["hot"]},
              open(os.path.join(OUT, "results.json"), "w"), indent=1)
    md = markdown(summary, meta, lost, tgts)
    open(os.path.join(OUT, "results.md"), "w").write(md + "\n")
    open(os.path.join(OUT, "chart.svg"), "w").write(svg_chart(summary, meta) + "\n")
    print(md)


if __name__ == "__main__":
    main()
