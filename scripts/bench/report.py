"""Prints the markdown tables of scripts/bench/relay.sh from its JSON output (target/bench/relay.json).

With several rounds every figure is the median over the rounds, with the range where it matters;
with several variants a second table compares each variant with the first one (or with each variant
named after the JSON file), round by round: each variant's numbers against the baseline's in the
same round.

    python3 scripts/bench/report.py target/bench/relay.json [BASELINE ...]
"""
import json
import math
import statistics
import sys

data = json.load(open(sys.argv[1]))
m = data["machine"]
variants = [v["name"] for v in data["variants"]]
levels = sorted({r["concurrency"] for r in data["runs"]})
rounds = data["rounds"]
loads = [x for l in data["load"] for x in (l["loadavg_before"][0], l["loadavg_after"][0])]


def runs(who, n):
    return {r["round"]: r for r in data["runs"] if r["who"] == who and r["concurrency"] == n}


def med(values):
    values = list(values)
    return statistics.median(values) if values else float("nan")


def div(a, b):
    return a / b if b else float("nan")


def spread(values, fmt, unit=""):
    """median, and (min–max) when there is more than one value; rounds without a value (a
    division by zero: no CPU tick or no answer) are left out."""
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return "n/a"
    text = format(med(values), fmt) + unit
    return text if len(values) < 2 else f"{text} ({min(values):{fmt}}–{max(values):{fmt}}{unit})"


def ratio(through, direct):
    return div(through["result"]["answers_per_s"], direct["result"]["answers_per_s"])


def cpu_per_1000(r):
    answers = r["result"]["answers"]
    return r["cpu_s"] / answers * 1000 if answers else float("nan")


def cpu_us_per_token(r, key="cpu_s"):
    """greenlight's CPU over the run divided by the tokens it relayed: per-answer costs included.
    key="sys_s": the kernel's share of it (older runs did not record it)."""
    tokens = r["result"]["tokens"]
    return r[key] / tokens * 1e6 if tokens and key in r else float("nan")


print(f"Machine: {m['nproc']} CPUs ({m['cpu']}), kernel {m['kernel']}, {m['date']}; "
      f"route {data.get('route', 'completions')}; upstream answers {data['tokens']} tokens, {data['token_delay_ms']} ms apart; "
      f"{rounds} round(s), {data['per_stream']} answers per stream; "
      f"1-minute load average {min(loads):.1f} to {max(loads):.1f} during the runs.\n")
print("| streams | build | floor answers/s | greenlight answers/s | ratio | errors (floor / greenlight) "
      "| TTFT p50 floor / greenlight (ms) | TTFT p99 floor / greenlight (ms) | p99 overhead (ms) "
      "| relay overhead per token (ms) | greenlight CPU-s per 1000 answers | greenlight CPU µs per token "
      "| of which kernel (µs) | greenlight peak RSS, round 1 (MiB) |")
print("|" + " --- |" * 14)
for n in levels:
    floor = runs(None, n)
    for name in variants:
        gl = runs(name, n)
        pairs = [(floor[k], gl[k]) for k in sorted(gl) if k in floor]
        per_token = [(t["result"]["total_ms"]["p50"] - d["result"]["total_ms"]["p50"])
                     / t["result"]["tokens_per_answer"]
                     for d, t in pairs if t["result"]["tokens_per_answer"]]
        print(f"| {n} | {name} | {med(d['result']['answers_per_s'] for d, _ in pairs):.0f} "
              f"| {med(t['result']['answers_per_s'] for _, t in pairs):.0f} "
              f"| {spread((100 * ratio(t, d) for d, t in pairs), '.0f', '%')} "
              f"| {sum(d['result']['errors'] for d, _ in pairs)} / {sum(t['result']['errors'] for _, t in pairs)} "
              f"| {med(d['result']['ttft_ms']['p50'] for d, _ in pairs):.1f} / "
              f"{med(t['result']['ttft_ms']['p50'] for _, t in pairs):.1f} "
              f"| {med(d['result']['ttft_ms']['p99'] for d, _ in pairs):.1f} / "
              f"{med(t['result']['ttft_ms']['p99'] for _, t in pairs):.1f} "
              f"| {spread((t['result']['ttft_ms']['p99'] - d['result']['ttft_ms']['p99'] for d, t in pairs), '.1f')} "
              f"| {med(per_token):.2f} | {spread((cpu_per_1000(t) for _, t in pairs), '.2f')} "
              f"| {spread((cpu_us_per_token(t) for _, t in pairs), '.1f')} "
              f"| {spread((cpu_us_per_token(t, 'sys_s') for _, t in pairs), '.1f')} "
              # VmHWM only grows: round 1 says what this level needed after the lower ones.
              f"| {pairs[0][1]['vmhwm_kib'] / 1024:.1f} |")

# Baselines: the first variant, or the names given after the JSON file (BASELINES in relay.sh).
for base in sys.argv[2:] or variants[:1]:
    if base not in variants:
        sys.exit(f"report.py: no variant named {base!r} (variants: {', '.join(variants)})")
    others = [name for name in variants if name != base]
    if not others:
        continue
    print(f"\nEach build against {base}, round by round (median, min–max over {rounds} round(s)):\n")
    print(f"| streams | build | answers/s ÷ {base}'s | CPU-s per 1000 answers ÷ {base}'s "
          f"| CPU µs per token, {base} → build | p99 TTFT − {base}'s (ms) |")
    print("|" + " --- |" * 6)
    for n in levels:
        b = runs(base, n)
        for name in others:
            v = runs(name, n)
            keys = [k for k in sorted(v) if k in b]
            print(f"| {n} | {name} "
                  f"| {spread((div(v[k]['result']['answers_per_s'], b[k]['result']['answers_per_s']) for k in keys), '.3f')} "
                  f"| {spread((div(cpu_per_1000(v[k]), cpu_per_1000(b[k])) for k in keys), '.3f')} "
                  f"| {med(cpu_us_per_token(b[k]) for k in keys):.1f} → {med(cpu_us_per_token(v[k]) for k in keys):.1f} "
                  f"| {spread((v[k]['result']['ttft_ms']['p99'] - b[k]['result']['ttft_ms']['p99'] for k in keys), '.1f')} |")

def per_stream_kib(v):
    """(peak RSS in round 1 at the highest level − RSS right after start) / streams: what each
    open stream costs, its buffers and tasks on both sides of the relay, plus allocator slack."""
    top = levels[-1]
    r = runs(v["name"], top)
    first = r[min(r)]
    return (first["vmhwm_kib"] - v["idle_rss_after_start_kib"]) / top


print("\n| build | binary (bytes) | cold start to /health 200, median (min–max) ms "
      "| idle RSS median (MiB) | of which anonymous / file-backed (MiB) | threads "
      "| peak RSS over the whole run (MiB) | memory per open stream at the top level (KiB) |")
print("|" + " --- |" * 8)
for v in data["variants"]:
    s = data["start"][v["name"]]
    c = s["cold_start_ms"]
    print(f"| {v['name']} | {v['size_bytes']:,} | {c['median']:.1f} ({c['min']:.1f}–{c['max']:.1f}) "
          f"| {s['idle_rss_kib']['median'] / 1024:.1f} "
          f"| {s['idle_rss_anon_kib'] / 1024:.1f} / {s['idle_rss_file_kib'] / 1024:.1f} | {s['threads']:.0f} "
          f"| {max(r['vmhwm_kib'] for r in data['runs'] if r['who'] == v['name']) / 1024:.1f} "
          f"| {per_stream_kib(v):.1f} |")
