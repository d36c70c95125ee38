"""Soak: many chats of mixed outcomes against one greenlight process, then its RSS and open file
descriptors must come back to their idle level.

Idle is measured after a warm-up at the soak's own concurrency (2 % of the chats): what the
allocator keeps for that many streams at once is part of the idle level, not a leak. A leak is
growth with the number of chats: RSS from a quarter of the chats to the end must stay within
--leak-slack-kib (runs of 20,000 chats or more).

The mix (per 20 chats): normal answers on /api/chat and /v1 (12), cancelled by the client after a
few tokens (3), and upstream faults through fake-llm's markers: 500, 429, a cut connection, a
malformed chunk, a hung upstream (first-token timeout) (one each). Every chat must end the way its
kind should: normal ones with done/[DONE], cancelled ones cancelled, faults with a final `error`
event or an error status; none may break off without a final event. Loopback only; bounded in count
and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import httpx

from load import Answer, loopback_only, one_answer
from procs import fake_llm, greenlight

# (kind, api, prompt, cancel after N tokens)
MIX = (
    [("normal", "chat", "Tell me about draining.", None), ("normal", "v1", "Tell me about draining.", None)] * 6
    + [("cancelled", "chat", "A long one [[long]]", 3), ("cancelled", "v1", "A long one [[long]]", 3), ("cancelled", "chat", "Hi", 2)]
    + [("fault", "chat", "[[500]]", None), ("fault", "v1", "[[429]]", None), ("fault", "chat", "[[cut]]", None),
       ("fault", "v1", "[[malformed]]", None), ("fault", "chat", "[[hang]]", None)]
)


def expected(kind: str, a: Answer) -> bool:
    if kind == "normal":
        return a.outcome == "done"
    if kind == "cancelled":
        return a.outcome in ("cancelled", "done")  # a short answer may finish first
    # Faults: a final error event, or an error status before the stream started.
    return a.outcome.startswith("error:") or (a.outcome.startswith("http:") and a.status >= 400)


def _tcp_by_inode() -> dict[str, tuple[int, int]]:
    """socket inode -> (local port, remote port), from /proc/net/tcp{,6}."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            found[f[9]] = (int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16))
    return found


def snapshot(task, upstream_port: int) -> dict:
    """RSS and open fds, the fds split by what they are: connections from clients, idle or busy
    connections to the upstream (reqwest keeps idle ones pooled for 90 s), and everything else."""
    tcp = _tcp_by_inode()
    kinds = {"clients": 0, "upstream": 0, "other": 0}
    fd_dir = Path(f"/proc/{task.pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        ports = tcp.get(target[len("socket:["):-1]) if target.startswith("socket:[") else None
        if ports and ports[1] == upstream_port:
            kinds["upstream"] += 1
        elif ports and ports[0] == task.port and ports[1] != 0:
            kinds["clients"] += 1
        else:
            kinds["other"] += 1
    return {"rss_kib": task.rss_kib(), "fds": sum(kinds.values()), "fds_by_kind": kinds}


async def soak(base: str, total: int, concurrency: int, max_seconds: float, results: list | None = None) -> tuple[list[tuple[str, Answer]], float]:
    loopback_only(base)
    results = [] if results is None else results
    next_i = 0
    deadline = time.monotonic() + max_seconds
    limits = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8)
    started = time.monotonic()
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(connect=5, read=60, write=10, pool=30)) as client:

        async def worker() -> None:
            nonlocal next_i
            while next_i < total and time.monotonic() < deadline:
                i = next_i
                next_i += 1
                kind, api, prompt, cancel = MIX[i % len(MIX)]
                results.append((kind, await one_answer(client, base, api, prompt, max_tokens=64, cancel_after=cancel)))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results, time.monotonic() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin-dir", required=True)
    p.add_argument("--chats", type=int, default=100_000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--max-seconds", type=float, default=3600)
    p.add_argument("--settle-seconds", type=float, default=5)
    p.add_argument("--pool-wait-seconds", type=float, default=0,
                   help="then wait this long and require every fd back (190: reqwest's pool closes connections idle for 90 s, "
                        "but its reaper only runs once per 90 s)")
    p.add_argument("--rss-slack-kib", type=int, default=4096, help="allowed RSS above idle after the soak (allocator caches)")
    p.add_argument("--leak-slack-kib", type=int, default=1024,
                   help="allowed RSS growth from a quarter of the chats to the end (a leak grows with the chats; "
                        "1 MiB over 75,000 chats is 14 bytes a chat)")
    p.add_argument("--leak-check-min-chats", type=int, default=20_000,
                   help="apply the leak check from this many chats on: a short run (CI's 1,000) still sees the allocator "
                        "settle, about 1 KiB a chat over its first thousand, which says nothing about a leak")
    p.add_argument("--report", default="target/rehearse/soak.json")
    a = p.parse_args()

    workdir = Path(f"/tmp/greenlight-soak-{os.getpid()}")
    workdir.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(a.bin_dir)
    upstream = fake_llm(bin_dir, workdir, "fake-llm", "--tokens", "20", "--long-tokens", "400", "--long-delay-ms", "10")
    task = greenlight(bin_dir, workdir, "greenlight", upstream, image="soak", commit="soak", drain_s=5,
                      extra_env={"UPSTREAM_FIRST_TOKEN_TIMEOUT_MS": "1000", "UPSTREAM_MAX_RETRIES": "1"})
    failures: list[str] = []
    try:
        # Idle level: the process at rest after a warm-up at the soak's own concurrency (first
        # connections, lazily built state, and the allocator's free lists sized for that many
        # streams at once: memory the allocator keeps for reuse, not a leak). The cold level, before
        # any chat, is reported too. The leak check is the RSS series below.
        time.sleep(a.settle_seconds)
        cold = snapshot(task, upstream.port)
        warm_up = max(len(MIX) * 5, a.chats // 50)
        asyncio.run(soak(task.url(), warm_up, a.concurrency, 300))
        time.sleep(a.settle_seconds)
        idle = snapshot(task, upstream.port)
        loadavg_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        peak = {"rss_kib": idle["rss_kib"], "fds": idle["fds"]}
        # RSS as the chats go: a plateau is allocator retention, steady growth a leak.
        rss_series: list[tuple[int, int]] = []
        done: list = []
        stop = False

        async def run_with_sampling():
            nonlocal stop

            async def sample():
                while not stop:
                    s = snapshot(task, upstream.port)
                    peak["rss_kib"] = max(peak["rss_kib"], s["rss_kib"])
                    peak["fds"] = max(peak["fds"], s["fds"])
                    if not rss_series or len(done) - rss_series[-1][0] >= max(1, a.chats // 20):
                        rss_series.append((len(done), s["rss_kib"]))
                    await asyncio.sleep(0.5)

            sampler = asyncio.create_task(sample())
            try:
                return await soak(task.url(), a.chats, a.concurrency, a.max_seconds, done)
            finally:
                stop = True
                await sampler

        results, seconds = asyncio.run(run_with_sampling())
        time.sleep(a.settle_seconds)
        after = snapshot(task, upstream.port)
        after_pool = None
        if a.pool_wait_seconds:
            # reqwest closes pooled upstream connections idle for 90 s, checked once per 90 s.
            time.sleep(a.pool_wait_seconds)
            after_pool = snapshot(task, upstream.port)
        stats = httpx.get(f"{upstream.url()}/_stats").json()
        by_kind: dict[str, dict[str, int]] = {}
        wrong: list[str] = []
        for kind, ans in results:
            by_kind.setdefault(kind, {})
            by_kind[kind][ans.outcome] = by_kind[kind].get(ans.outcome, 0) + 1
            if not expected(kind, ans):
                wrong.append(f"{kind} {ans.api}: {ans.outcome}")
        if len(results) < a.chats:
            failures.append(f"only {len(results)} of {a.chats} chats ran within {a.max_seconds} s")
        if wrong:
            failures.append(f"{len(wrong)} chats ended the wrong way, e.g. {wrong[:5]}")
        for kind in ("clients", "other"):
            if after["fds_by_kind"][kind] > idle["fds_by_kind"][kind]:
                failures.append(f"{kind} fds {after['fds_by_kind'][kind]} after the soak, {idle['fds_by_kind'][kind]} idle")
        if after["fds_by_kind"]["upstream"] > a.concurrency:
            failures.append(f"{after['fds_by_kind']['upstream']} upstream connections pooled, more than the {a.concurrency} streams")
        if after_pool and after_pool["fds"] > idle["fds"]:
            failures.append(f"open fds {after_pool['fds']} {a.pool_wait_seconds} s after the soak, {idle['fds']} idle")
        if after["rss_kib"] > idle["rss_kib"] + a.rss_slack_kib:
            failures.append(f"RSS {after['rss_kib']} KiB after the soak, {idle['rss_kib']} KiB idle (+{a.rss_slack_kib} allowed)")
        # Leak check: from a quarter of the soak (allocator warmed at full concurrency) to its end.
        quarter = next(((n, kib) for n, kib in rss_series if n >= len(results) // 4), None)
        growth_kib = after["rss_kib"] - quarter[1] if quarter else None
        if len(results) >= a.leak_check_min_chats and growth_kib is not None and growth_kib > a.leak_slack_kib:
            failures.append(f"RSS grew {growth_kib} KiB from chat {quarter[0]} to the end (+{a.leak_slack_kib} allowed): a leak")
        if stats.get("active"):
            failures.append(f"fake-llm still has {stats['active']} active upstream requests")
        if not task.alive():
            failures.append("greenlight died")
        report = {
            "ok": not failures, "failures": failures, "chats": len(results), "seconds": round(seconds, 1),
            "chats_per_s": round(len(results) / seconds, 1), "concurrency": a.concurrency,
            "warm_up_chats": warm_up, "cold": cold, "idle": idle, "peak": peak, "rss_growth_from_quarter_kib": growth_kib, "after": after, "after_pool_timeout": after_pool, "rss_kib_by_chats": rss_series, "outcomes": by_kind, "upstream_stats": stats,
            "loadavg": f"{loadavg_before} -> {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", "cpus": os.cpu_count(),
        }
    finally:
        task.kill()
        upstream.kill()
    out = Path(a.report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("ok", "failures", "chats", "seconds", "chats_per_s", "warm_up_chats", "cold", "idle", "rss_growth_from_quarter_kib", "peak", "after", "after_pool_timeout", "rss_kib_by_chats", "loadavg")}, indent=1))
    print("outcomes:", json.dumps(by_kind))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
