#!/usr/bin/python3
"""peers_report.py: the tables, goal checks and SVG charts of bench/peers.sh.

    peers_report.py RESULTS.tsv CHART_DIR E2E_RATE REQS_CONNS

RESULTS.tsv has a line per driver run: round, system, workload, ok|fail, the driver's key=value
line (plus broker_cpu_s=, the broker's CPU seconds over the run), and why it failed. Values in
the tables are medians over the rounds; a ratio is zcq's value over the peer's in the same round,
and the median of those. MB and GB are 10^6 and 10^9 bytes of record payload. Writes
CHART_DIR/peers-WORKLOAD.svg (bars drawn by hand, no plotting library).
"""
import statistics
import sys
from collections import defaultdict

SYSTEMS = ["zcq", "nats", "redis", "rabbitmq"]
NAMES = {"zcq": "zcq", "nats": "NATS JetStream", "redis": "Redis streams",
         "rabbitmq": "RabbitMQ streams"}
HOW = {
    ("zcq", "produce"): "librdkafka, acks=1, linger 5 ms, batch 1 MiB",
    ("nats", "produce"): "libnats js_PublishAsync, 1,000 awaiting ack",
    ("redis", "produce"): "hiredis XADD, pipelines of 1,000, two in flight",
    ("rabbitmq", "produce"): "librabbitmq, confirms, 1,000 unconfirmed",
    ("zcq", "consume"): "librdkafka, 1 MiB fetches",
    ("nats", "consume"): "ordered consumer (push, flow control)",
    ("redis", "consume"): "XREAD COUNT 1000",
    ("rabbitmq", "consume"): "AMQP basic.consume, prefetch 1,000",
    ("zcq", "e2e"): "linger 0; fetch.min.bytes=1",
    ("nats", "e2e"): "js_PublishAsync; ordered consumer",
    ("redis", "e2e"): "XADD; XREAD BLOCK",
    ("rabbitmq", "e2e"): "publish + async confirms; basic.consume",
    ("zcq", "e2ecold"): "as e2e; catch-up: as consume",
    ("nats", "e2ecold"): "as e2e; catch-up: as consume",
    ("redis", "e2ecold"): "as e2e; catch-up: as consume (the stream is in memory: nothing is cold)",
    ("rabbitmq", "e2ecold"): "as e2e; catch-up: as consume",
    ("zcq", "reqs"): "raw Produce v7, acks=1",
    ("nats", "reqs"): "js_Publish (waits for the ack)",
    ("redis", "reqs"): "XADD, no pipelining",
    ("rabbitmq", "reqs"): "publish, wait for the confirm",
}
TITLES = {
    "produce100": "Produce 100-byte records, batched",
    "produce1k": "Produce 1 KiB records, batched",
    "consume": "Consume a 1 GiB backlog of 1 KiB records from the beginning",
    "e2e": "End-to-end latency, 1 KiB records at a fixed rate",
    "e2ecold": "End-to-end latency while a cold catch-up reader consumes the 1 GiB backlog",
    "reqs": "Request capacity: one 100-byte record per request, no pipelining",
}


def load(path):
    runs = defaultdict(dict)  # (system, workload) -> round -> dict (or {"fail": reason})
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 5:
            continue
        r, s, w, status, kv = f[:5]
        reason = f[5] if len(f) > 5 else ""
        if status != "ok":
            runs[(s, w)][int(r)] = {"fail": reason or "failed"}
            continue
        d = {}
        for item in kv.split():
            k, _, v = item.partition("=")
            try:
                d[k] = float(v)
            except ValueError:
                d[k] = v
        runs[(s, w)][int(r)] = d
    return runs


def derived(w, d):
    """Per-run metrics of workload w from the driver's line d."""
    m = dict(d)
    gb = d.get("bytes", 0) / 1e9
    if gb > 0 and "broker_cpu_s" in d:
        m["broker_s_per_gb"] = d["broker_cpu_s"] / gb
        m["client_s_per_gb"] = d["client_cpu_s"] / gb
    if "machine_busy_s" in d and d.get("seconds"):
        # CPU the rest of the machine took (other processes, interrupts) per second of the run.
        other = d["machine_busy_s"] - d.get("broker_cpu_s", 0) - d.get("client_cpu_s", 0)
        m["other_cpus"] = max(0.0, other) / d["seconds"]
    if w == "reqs" and d.get("records"):
        m["broker_us_per_req"] = d["broker_cpu_s"] / d["records"] * 1e6
        m["client_us_per_req"] = d["client_cpu_s"] / d["records"] * 1e6
    return m


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Data:
    def __init__(self, runs, workloads):
        self.runs = runs
        self.workloads = workloads
        self.systems = [s for s in SYSTEMS if any((s, w) in runs for w in workloads)]

    def rounds(self, s, w):
        return self.runs.get((s, w), {})

    def ok(self, s, w):
        return {r: derived(w, d) for r, d in self.rounds(s, w).items() if "fail" not in d}

    def partial(self, s, w):
        """'(N of M rounds failed: why)' when some rounds failed and some did not."""
        rs = self.rounds(s, w)
        bad = [d["fail"] for d in rs.values() if "fail" in d]
        if not bad or len(bad) == len(rs):
            return ""
        return f" ({len(bad)} of {len(rs)} rounds failed: {sorted(set(bad))[0]})"

    def failed(self, s, w):
        """Why every round failed (None if one succeeded)."""
        rs = self.rounds(s, w)
        if not rs or self.ok(s, w):
            return None
        return sorted({d["fail"] for d in rs.values()})[0]

    def value(self, s, w, key):
        return med([d.get(key) for d in self.ok(s, w).values()])

    def ratio(self, w, key, peer, system="zcq", peer_w=None):
        """Median over rounds of system's value / peer's value in the same round (of workload
        peer_w for the peer, if given)."""
        a, b = self.ok(system, w), self.ok(peer, peer_w or w)
        rs = [a[r][key] / b[r][key] for r in a if r in b and a[r].get(key) and b[r].get(key)]
        return med(rs)

    def ratio_to_best(self, w, key, peers):
        """Median over rounds of zcq's value / the lowest peer value in that round."""
        z = self.ok("zcq", w)
        out = []
        for r, d in z.items():
            vals = [self.ok(p, w).get(r, {}).get(key) for p in peers]
            vals = [v for v in vals if v]
            if vals and d.get(key):
                out.append(d[key] / min(vals))
        return med(out)


def fmt(v, digits=None):
    if v is None:
        return "-"
    if digits is not None:
        return f"{v:,.{digits}f}"
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def ratio_cell(v):
    return "-" if v is None else f"{v:.2f}x"


def sustained(data, s, w, rate, seconds):
    """e2e: did the producer keep to the rate, and did everything arrive? (a reason if not)"""
    d = data.ok(s, w)
    if not d:
        return None
    bad = [x for x in d.values() if x.get("send_s", 0) > 1.05 * seconds]
    if len(bad) * 2 >= len(d) and bad:
        return f"could not keep {rate:,.0f}/s: sending took {med([x['send_s'] for x in bad]):.1f} s"
    return None


def kind_of(w):
    return "produce" if w.startswith("produce") else "e2e" if w.startswith("e2e") else w


def table(data, w, rate):
    kind = kind_of(w)
    lines = [f"**{TITLES[w]}**" + (f" ({rate:,.0f} records/s)" if kind == "e2e" else ""), ""]
    if kind in ("produce", "consume"):
        head = ["system", "client, settings", "records", "records/s", "MB/s",
                "broker CPU s/GB", "client CPU s/GB"]
        if kind == "produce":
            head.append("ack latency p50 / p99 / p99.9 ms")
        head += ["zcq ÷ it: records/s", "zcq ÷ it: broker CPU/GB"]
    elif kind == "e2e":
        head = ["system", "client, settings", "p50 ms", "p99 ms", "p99.9 ms", "max ms",
                "broker CPU s/GB", "client CPU s/GB", "zcq ÷ it: p99", "zcq ÷ it: broker CPU/GB"]
        if w == "e2ecold":
            head[6:6] = ["p99 ÷ p99 without the reader", "catch-up MB/s (its seconds)"]
    else:
        head = ["system", "client, settings", "requests/s", "p50 / p99 / p99.9 ms",
                "broker CPU us/request", "client CPU us/request", "zcq ÷ it: requests/s",
                "zcq ÷ it: broker CPU/request"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    e2e_seconds = None
    for s in data.systems:
        how = HOW.get((s, w), HOW.get((s, kind), ""))
        why = data.failed(s, w)
        if why is not None or not data.ok(s, w):
            why = why or "not run"
            lines.append(f"| {NAMES[s]} | {how} | n/a: {why} |" + " |" * (len(head) - 3))
            continue
        name = NAMES[s] + data.partial(s, w)
        v = lambda k: data.value(s, w, k)  # noqa: E731
        zr = lambda k: "-" if s == "zcq" else ratio_cell(data.ratio(w, k, s))  # noqa: E731
        lat = f"{fmt(v('p50_ms'))} / {fmt(v('p99_ms'))} / {fmt(v('p999_ms'))}"
        if kind in ("produce", "consume"):
            row = [name, how, fmt(v("records"), 0), fmt(v("records_per_s"), 0),
                   fmt(v("mb_per_s"), 1), fmt(v("broker_s_per_gb")), fmt(v("client_s_per_gb"))]
            if kind == "produce":
                row.append(lat)
            row += [zr("records_per_s"), zr("broker_s_per_gb")]
        elif kind == "e2e":
            if e2e_seconds is None:
                e2e_seconds = v("records") / rate if rate else 0
            note = sustained(data, s, w, rate, e2e_seconds)
            row = [name + (f" ({note})" if note else ""), how, fmt(v("p50_ms")),
                   fmt(v("p99_ms")), fmt(v("p999_ms")), fmt(v("max_ms")),
                   fmt(v("broker_s_per_gb")), fmt(v("client_s_per_gb")), zr("p99_ms"),
                   zr("broker_s_per_gb")]
            if w == "e2ecold":
                cu = lambda k: data.value(s, "catchup", k)  # noqa: E731
                row[6:6] = [ratio_cell(data.ratio("e2ecold", "p99_ms", s, system=s, peer_w="e2e")),
                            f"{fmt(cu('mb_per_s'))} ({fmt(cu('seconds'))} s)" if cu("mb_per_s")
                            else "n/a: " + (data.failed(s, "catchup") or "not run")]
        else:
            row = [name, how, fmt(v("records_per_s"), 0), lat, fmt(v("broker_us_per_req")),
                   fmt(v("client_us_per_req")), zr("records_per_s"), zr("broker_us_per_req")]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def goals(data, rate):
    rows = []

    def check(what, v, ok_fn, shown):
        if v is None:
            rows.append(f"| {what} | not measured | - |")
        else:
            rows.append(f"| {what} | {shown} | {'PASS' if ok_fn(v) else 'FAIL'} |")

    peers = [s for s in data.systems if s != "zcq"]
    r = data.ratio("reqs", "records_per_s", "redis")
    check("request capacity (1 record per request, 8 connections): zcq >= Redis XADD", r,
          lambda x: x >= 1,
          f"{fmt(data.value('zcq', 'reqs', 'records_per_s'), 0)} vs "
          f"{fmt(data.value('redis', 'reqs', 'records_per_s'), 0)} requests/s: "
          f"{ratio_cell(r)}" if r else "")
    for peer, factor in (("redis", 3), ("nats", 2)):
        r = data.ratio("produce100", "records_per_s", peer)
        check(f"batched produce of 100-byte records: zcq >= {factor}x {NAMES[peer]}", r,
              lambda x, f=factor: x >= f,
              f"{fmt(data.value('zcq', 'produce100', 'records_per_s'), 0)} vs "
              f"{fmt(data.value(peer, 'produce100', 'records_per_s'), 0)} records/s: "
              f"{ratio_cell(r)}" if r else "")
    for w, what in (("produce100", "produced, 100-byte records"),
                    ("produce1k", "produced, 1 KiB records"), ("consume", "consumed")):
        r = data.ratio_to_best(w, "broker_s_per_gb", peers)
        best = min(((data.value(p, w, "broker_s_per_gb"), p) for p in peers
                    if data.value(p, w, "broker_s_per_gb")), default=(None, None))
        check(f"broker CPU per GB {what}: zcq <= 1/3 of the best peer's", r,
              lambda x: x <= 1 / 3,
              f"{fmt(data.value('zcq', w, 'broker_s_per_gb'))} vs "
              f"{fmt(best[0])} s/GB ({NAMES.get(best[1], '-')}): {ratio_cell(r)}" if r else "")
    p99 = data.value("zcq", "e2e", "p99_ms")
    check(f"end-to-end at {rate:,.0f}/s of 1 KiB: zcq p99 < 2 ms", p99, lambda x: x < 2,
          f"{fmt(p99)} ms")
    others = {p: data.value(p, "e2e", "p99_ms") for p in peers}
    others = {p: v for p, v in others.items() if v is not None}
    if p99 is not None and others:
        best = min(others, key=others.get)
        rows.append(f"| end-to-end: zcq p99 lower than every peer's | zcq {fmt(p99)} ms, "
                    f"lowest peer {NAMES[best]} {fmt(others[best])} ms | "
                    f"{'PASS' if p99 < others[best] else 'FAIL'} |")
    r = data.ratio("e2ecold", "p99_ms", "zcq", peer_w="e2e")
    check("with a cold catch-up reader: zcq's tail consumer p99 at most 2x the figure without",
          r, lambda x: x <= 2,
          f"{fmt(data.value('zcq', 'e2ecold', 'p99_ms'))} vs "
          f"{fmt(data.value('zcq', 'e2e', 'p99_ms'))} ms: {ratio_cell(r)}" if r else "")
    return "\n".join(["| goal | measured | result |", "|---|---|---|"] + rows)


# --- SVG --------------------------------------------------------------------------------------

def esc(t):
    return str(t).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def panel(x0, y0, width, title, bars, unit):
    """bars: [(label, value or None, note, is_zcq)]; returns SVG elements."""
    out = [f'<text x="{x0}" y="{y0}" font-weight="bold">{esc(title)}</text>']
    vals = [b[1] for b in bars if b[1]]
    top = max(vals) if vals else 1
    label_w, bar_w = 130, width - 130 - 90
    for i, (label, v, note, z) in enumerate(bars):
        y = y0 + 14 + i * 26
        out.append(f'<text x="{x0 + label_w - 6}" y="{y + 14}" text-anchor="end">'
                   f'{esc(label)}</text>')
        if v is None:
            out.append(f'<text x="{x0 + label_w}" y="{y + 14}" fill="#888">'
                       f'{esc(note or "n/a")}</text>')
            continue
        w = max(1.0, bar_w * v / top)
        color = "#c0392b" if z else "#5b7fa6"
        out.append(f'<rect x="{x0 + label_w}" y="{y}" width="{w:.1f}" height="18" '
                   f'fill="{color}"/>')
        out.append(f'<text x="{x0 + label_w + w + 4:.1f}" y="{y + 14}">{esc(fmt(v))} '
                   f'{esc(unit)}</text>')
    return out


def chart(data, w, path, rate, subtitle):
    kind = kind_of(w)
    if kind == "e2e":
        left = ("p99 latency, ms (lower is better)", "p99_ms", "ms")
        right = ("broker CPU s per GB (lower is better)", "broker_s_per_gb", "s/GB")
    elif kind == "reqs":
        left = ("requests/s (higher is better)", "records_per_s", "/s")
        right = ("broker CPU us per request (lower is better)", "broker_us_per_req", "us")
    else:
        left = ("records/s (higher is better)", "records_per_s", "/s")
        right = ("broker CPU s per GB (lower is better)", "broker_s_per_gb", "s/GB")
    n = len(data.systems)
    width, height = 980, 70 + n * 26 + 20
    els = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="20" font-size="14" font-weight="bold">{esc(TITLES[w])}'
           + (f" ({rate:,.0f} records/s)" if kind == "e2e" else "") + "</text>",
           f'<text x="10" y="36" fill="#555">{esc(subtitle)}</text>']
    for x0, (title, key, unit) in ((10, left), (width // 2 + 10, right)):
        bars = []
        for s in data.systems:
            why = data.failed(s, w)
            v = data.value(s, w, key) if why is None else None
            bars.append((NAMES[s], v, "n/a: " + (why or "not run")[:40] if v is None else "",
                         s == "zcq"))
        els += panel(x0, 58, width // 2 - 20, title, bars, unit)
    els.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(els) + "\n")


def main():
    path, charts, rate, conns = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    runs = load(path)
    workloads = [w for w in ("produce100", "produce1k", "consume", "e2e", "e2ecold", "reqs")
                 if any(k[1] == w for k in runs)]
    data = Data(runs, workloads)
    nrounds = len({r for v in runs.values() for r in v})
    print(f"Medians of {nrounds} round(s); \"zcq ÷ it\" is zcq's value over that system's in "
          f"the same round (median of the rounds): above 1 zcq is faster (records/s) or "
          f"costlier (CPU, latency). MB and GB are 10^6 and 10^9 bytes of record payload; "
          f"broker CPU is every thread of the broker process.")
    for w in workloads:
        print()
        print(table(data, w, rate))
        chart(data, w, f"{charts}/peers-{w}.svg", rate,
              f"medians of {nrounds} round(s), zcq in red; request capacity over {conns} "
              f"connections" if w == "reqs" else f"medians of {nrounds} round(s), zcq in red")
    print()
    print("**Broker memory** (RSS after all the workloads, median)")
    print()
    print("| system | RSS |")
    print("|---|---|")
    for s in data.systems:
        v = med([d.get("rss_kb") for d in data.ok(s, "rss").values()])
        print(f"| {NAMES[s]} | {fmt(v / 1024 if v else None)} MiB |")
    print()
    print("**Noise**: CPUs kept busy by everything else on the machine (other processes, "
          "interrupts) during each run, median per workload and system; 2.0 would be all of "
          "a two-CPU machine")
    print()
    print("| system | " + " | ".join(workloads) + " |")
    print("|---|" + "---|" * len(workloads))
    for s in data.systems:
        print(f"| {NAMES[s]} | " + " | ".join(fmt(data.value(s, w, "other_cpus"), 2)
                                             for w in workloads) + " |")
    print()
    print("**Goals** (for the broker; reported, not enforced)")
    print()
    print(goals(data, rate))
    print()
    print(f"Charts: {', '.join(f'{charts}/peers-{w}.svg' for w in workloads)}")


if __name__ == "__main__":
    main()
