"""Prints the markdown results table of scripts/bench/relay.sh from its JSON output."""
import json
import sys

data = json.load(open(sys.argv[1]))
m = data["machine"]
print(f"Machine: {m['nproc']} CPUs ({m['cpu']}), kernel {m['kernel']}, {m['date']}; "
      f"upstream answers {data['tokens']} tokens, {data['token_delay_ms']} ms apart.\n")
print("| streams | floor answers/s | greenlight answers/s | ratio | errors (floor / greenlight) "
      "| TTFT p50 floor / greenlight (ms) | TTFT p99 floor / greenlight (ms) | p99 overhead (ms) "
      "| relay overhead per token (ms) | greenlight CPU-s per 1000 answers | greenlight peak RSS (MiB) |")
print("|" + " --- |" * 11)
for level in data["levels"]:
    d, t = level["direct"], level["through"]
    ratio = t["answers_per_s"] / d["answers_per_s"] if d["answers_per_s"] else 0
    per_token = ((t["total_ms"]["p50"] - d["total_ms"]["p50"]) / t["tokens_per_answer"]
                 if t["tokens_per_answer"] else float("nan"))
    cpu = level["cpu_s"] / t["answers"] * 1000 if t["answers"] else float("nan")
    print(f"| {level['concurrency']} | {d['answers_per_s']:.0f} | {t['answers_per_s']:.0f} | {ratio:.0%} "
          f"| {d['errors']} / {t['errors']} | {d['ttft_ms']['p50']:.1f} / {t['ttft_ms']['p50']:.1f} "
          f"| {d['ttft_ms']['p99']:.1f} / {t['ttft_ms']['p99']:.1f} "
          f"| {t['ttft_ms']['p99'] - d['ttft_ms']['p99']:.1f} | {per_token:.2f} | {cpu:.2f} "
          f"| {level['vmhwm_kib'] / 1024:.1f} |")
s = data["start"]
print(f"\nCold start to /health 200: median {s['cold_start_ms']['median']:.1f} ms "
      f"(min {s['cold_start_ms']['min']:.1f}, max {s['cold_start_ms']['max']:.1f}); "
      f"idle RSS {s['idle_rss_kib']['median'] / 1024:.1f} MiB median "
      f"(after the load runs' start: {data['idle_rss_after_start_kib'] / 1024:.1f} MiB).")
