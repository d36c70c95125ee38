"""The blue/green cutover rehearsal: what CodeDeploy does to an ECS service, done to real processes
under a continuous load of streaming chats, with the timings the CDK app ships.

Deployments, in order, on one HAProxy (the ALB) with two target groups and `--clients` users
streaming through the production listener the whole time:

1. all-at-once: v1 (blue) -> v2 (green). Green registers and turns healthy, the test listener
   points at it, the real `greenlight smoke` (the hook's checks) passes through it, production
   moves to it at once; a long answer (longer than deregistration delay + drain window) is open on
   blue at that moment. Blue is deregistered, drained for the deregistration delay, then SIGTERMed.
2. canary: v2 -> v3, the same with `canary_percent` % of production on green for the canary
   interval, then the rest.
3. broken greens, one after the other: the wrong image, 500s from its model, a first token slower
   than the hook's budget. The smoke check must fail each, and production must never move.

Asserted: every answer the load asked for ended with `done`/`[DONE]`, no non-2xx except the
documented `draining` 503 (retried), every answer served by the version the timeline allows, no
answer from a broken green, blue exited 0 within the stop timeout, the long answer ended with the
documented final `error` event (`draining`, retryable) at the end of blue's drain window.
Writes a JSON report and prints a markdown summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

import shipped
from haproxy import HAProxy
from load import Answer, Load, latency, one_answer
from procs import Proc, fake_llm, greenlight

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenlight"


@dataclass
class Version:
    label: str  # v1, v2 … (the HAProxy server name, so X-Served-By names the version)
    commit: str
    image: str


def version(n: int, note: str = "") -> Version:
    commit = f"{n:07x}{note}"[:40]
    return Version(f"v{n}{note}", commit, f"{REGISTRY}:{commit}")


@dataclass
class Timeline:
    t0: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str]] = field(default_factory=list)

    def mark(self, what: str) -> float:
        now = time.monotonic()
        self.events.append((now, what))
        print(f"[{now - self.t0:7.2f}s] {what}", flush=True)
        return now


class Rehearsal:
    def __init__(self, args: argparse.Namespace, timings: shipped.Timings, workdir: Path):
        self.args = args
        self.t = timings
        self.dir = workdir
        self.bin = Path(args.bin_dir)
        self.timeline = Timeline()
        self.proxy = HAProxy(workdir / "haproxy", timings)
        self.procs: list[Proc] = []
        self.failures: list[str] = []
        self.deployments: list[dict] = []
        self.bad_labels: set[str] = set()
        # Which server may answer, per time window: (start, end or None, {"tg/vN", …}).
        self.allowed: list[tuple[float, float | None, set[str]]] = []
        self.long_answers: list[tuple[Answer, dict]] = []

    def check(self, ok: bool, what: str) -> None:
        print(("  ok   " if ok else "  FAIL ") + what, flush=True)
        if not ok:
            self.failures.append(what)

    def allow(self, servers: set[str]) -> None:
        now = time.monotonic()
        if self.allowed and self.allowed[-1][1] is None:
            start, _, prev = self.allowed[-1]
            self.allowed[-1] = (start, now, prev)
        self.allowed.append((now, None, set(servers)))

    # --- the processes ------------------------------------------------------------------------
    def start_task(self, v: Version, upstream: Proc, extra_env: dict[str, str] | None = None) -> Proc:
        p = greenlight(
            self.bin, self.dir, v.label, upstream, image=v.image, commit=v.commit, drain_s=self.t.drain_s, extra_env=extra_env
        )
        self.procs.append(p)
        return p

    async def smoke(self, expect: Version) -> tuple[bool, dict]:
        """The real `greenlight smoke` (the hook's checks, the hook's defaults) via the test listener."""
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            str(self.bin / "greenlight"), "smoke", "--url", f"http://127.0.0.1:{self.proxy.test_port}",
            "--expect-image", expect.image, "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        try:
            report = json.loads(out)
        except ValueError:
            report = {"stdout": out.decode(errors="replace")[-2000:], "stderr": err.decode(errors="replace")[-2000:]}
        report["exit_code"] = proc.returncode
        report["seconds"] = round(time.monotonic() - started, 2)
        return proc.returncode == 0, report

    async def retire(self, backend: str, task: Proc, summary: dict) -> None:
        """ECS stopping a blue task: deregistration (draining for up to the delay, done early
        when no request is open, as the ALB does), then SIGTERM, then SIGKILL after the stop
        timeout."""
        self.proxy.deregister(backend, task.name)
        t_dereg = self.timeline.mark(f"deregister {backend}/{task.name} (delay {self.t.deregistration_delay_s:.1f} s)")
        while time.monotonic() - t_dereg < self.t.deregistration_delay_s:
            if self.proxy.open_connections(backend, task.name) == 0:
                break
            await asyncio.sleep(0.1)
        summary["deregistration_s"] = round(time.monotonic() - t_dereg, 2)
        summary["open_at_sigterm"] = self.proxy.open_connections(backend, task.name)
        task.terminate()
        t_term = self.timeline.mark(f"SIGTERM {task.name} ({summary['open_at_sigterm']} connections open)")
        code = await asyncio.to_thread(task.wait, self.t.stop_timeout_s)
        if code is None:
            task.kill()
            self.timeline.mark(f"SIGKILL {task.name}: still running after the stop timeout")
        else:
            self.timeline.mark(f"{task.name} exited {code}")
        summary["exit_code"] = code
        summary["sigterm_to_exit_s"] = round(time.monotonic() - t_term, 2)
        summary["sigterm_at"] = t_term
        self.check(code == 0, f"{task.name} exited 0 on its own within stopTimeout {self.t.stop_timeout_s:.0f} s (code {code})")
        self.proxy.remove(backend, task.name)

    async def register(self, backend: str, task: Proc) -> float:
        self.proxy.register(backend, task.name, task.port)
        limit = self.t.health_interval_s * (self.t.healthy_threshold + 2) + 10
        took = await asyncio.to_thread(self.proxy.wait_healthy, backend, task.name, limit)
        self.timeline.mark(f"{backend}/{task.name} healthy after {took:.2f} s")
        return took

    # --- the deployments ----------------------------------------------------------------------
    async def deploy(self, blue_tg: str, blue: Proc, green_v: Version, upstream: Proc, mode: str, long_answer: bool) -> Proc:
        green_tg = "tg_green" if blue_tg == "tg_blue" else "tg_blue"
        summary: dict = {"mode": mode, "blue": blue.name, "green": green_v.label}
        self.timeline.mark(f"deployment {mode}: {blue.name} ({blue_tg}) -> {green_v.label} ({green_tg})")
        green = self.start_task(green_v, upstream)
        summary["green_healthy_s"] = round(await self.register(green_tg, green), 2)
        self.proxy.route(test=green_tg)
        ok, report = await self.smoke(green_v)
        summary["smoke"] = {"passed": ok, "seconds": report["seconds"]}
        self.timeline.mark(f"smoke through the test listener: {'passed' if ok else 'FAILED'} in {report['seconds']} s")
        self.check(ok, f"smoke passes on good green {green_v.label}")
        if not ok:
            summary["smoke_report"] = report
            self.deployments.append(summary)
            raise RuntimeError(f"smoke failed on a good green: {json.dumps(report)[:2000]}")

        long_task = None
        if long_answer:
            long_task = asyncio.create_task(self.open_long_answer(blue_tg, blue))
            await asyncio.sleep(1.0)  # the long answer is streaming from blue when traffic moves

        blue_srv, green_srv = f"{blue_tg}/{blue.name}", f"{green_tg}/{green.name}"
        if mode == "canary":
            self.proxy.route(next=green_tg, next_pct=self.t.canary_percent or 10)
            self.allow({blue_srv, green_srv})
            t_canary = self.timeline.mark(f"canary: {self.t.canary_percent} % of production to {green.name} for {self.args.canary_seconds:.1f} s")
            await asyncio.sleep(self.args.canary_seconds)
            window = [a for a in self.load.answers if a.started >= t_canary and a.status == 200]
            on_green = sum(a.served_by == green_srv for a in window)
            summary["canary"] = {"answers": len(window), "on_green": on_green,
                                 "share_pct": round(100 * on_green / len(window), 1) if window else None}
        self.proxy.route(prod=green_tg, next_pct=0)
        t_switch = self.timeline.mark(f"production -> {green_tg} ({green.name})")
        summary["switch_at"] = t_switch
        # Requests routed before the switch may still be answered by blue (they were sent to it).
        self.allow({blue_srv, green_srv})
        await self.retire(blue_tg, blue, summary)
        self.allow({green_srv})
        if long_task:
            answer = await long_task
            summary["long_answer"] = self.long_verdict(answer, summary)
        self.deployments.append(summary)
        return green

    async def open_long_answer(self, tg: str, blue: Proc) -> Answer:
        async with httpx.AsyncClient(timeout=httpx.Timeout(connect=5, read=300, write=10, pool=10)) as client:
            return await one_answer(
                client, f"http://127.0.0.1:{self.proxy.prod_port}", "chat", "Tell me everything [[long]]",
                max_tokens=1024, tag="long",
            )

    def long_verdict(self, a: Answer, summary: dict) -> dict:
        ended_after_term = a.ended - summary["sigterm_at"]
        verdict = {
            "served_by": a.served_by, "outcome": a.outcome, "tokens": a.tokens,
            "lasted_s": round(a.total_s, 2),
            "ended_after_sigterm_s": round(ended_after_term, 2),
        }
        self.check(a.served_by.endswith("/" + summary["blue"]), f"the long answer streamed from blue ({a.served_by})")
        self.check(a.outcome == "error:draining",
                   f"the long answer ended with the final `error` event `draining` (got {a.outcome})")
        self.check(abs(ended_after_term - self.t.drain_s) < 1.5 + 0.1 * self.t.drain_s,
                   f"…at the end of the drain window: {ended_after_term:.2f} s after SIGTERM (DRAIN_SECONDS {self.t.drain_s:.0f})")
        return verdict

    async def broken(self, tg: str, prod_tg: str, kind: str, n: int, upstream: Proc, slow_upstream: Proc, failing_upstream: Proc) -> None:
        if kind == "wrong-image":
            v = version(n, "-bad-image")
            task = greenlight(self.bin, self.dir, v.label, upstream, image=f"{REGISTRY}:not-this-deployment", commit=v.commit, drain_s=self.t.drain_s)
        elif kind == "500s":
            v = version(n, "-bad-500")
            task = greenlight(self.bin, self.dir, v.label, failing_upstream, image=v.image, commit=v.commit, drain_s=self.t.drain_s,
                              extra_env={"UPSTREAM_MAX_RETRIES": "0"})
        else:
            v = version(n, "-bad-slow")
            task = greenlight(self.bin, self.dir, v.label, slow_upstream, image=v.image, commit=v.commit, drain_s=self.t.drain_s)
        self.procs.append(task)
        self.bad_labels.add(f"{tg}/{task.name}")
        self.timeline.mark(f"deployment of a broken green ({kind}): {v.label} in {tg}")
        summary: dict = {"mode": f"broken:{kind}", "green": v.label}
        summary["green_healthy_s"] = round(await self.register(tg, task), 2)
        self.proxy.route(test=tg)
        ok, report = await self.smoke(v)
        failed = [f"{c.get('name')}: {c.get('detail')}" for c in report.get("checks", []) if not c.get("passed", True)]
        summary["smoke"] = {"passed": ok, "seconds": report["seconds"], "first_failure": failed[0] if failed else report.get("stderr")}
        self.timeline.mark(f"smoke: {'passed' if ok else 'failed'} in {report['seconds']} s; production stays on {prod_tg}")
        self.check(not ok, f"smoke fails on the broken green ({kind})")
        # CodeDeploy's Failed: no traffic shift; the green tasks are stopped.
        self.proxy.route(test=prod_tg)
        task.terminate()
        await asyncio.to_thread(task.wait, self.t.stop_timeout_s)
        task.kill()
        self.proxy.remove(tg, task.name)
        self.deployments.append(summary)

    # --- the run ------------------------------------------------------------------------------
    async def run(self) -> dict:
        a = self.args
        upstream = fake_llm(self.bin, self.dir, "fake-llm", "--tokens", str(a.tokens), "--token-delay-ms", str(a.token_delay_ms),
                            "--long-tokens", str(a.long_tokens), "--long-delay-ms", str(a.long_delay_ms))
        # The broken greens' models: one slower to its first token than the hook's budget (5 s),
        # one failing every request with 500.
        slow = fake_llm(self.bin, self.dir, "fake-llm-slow", "--first-token-delay-ms", "6000")
        failing = fake_llm(self.bin, self.dir, "fake-llm-failing")
        self.procs += [upstream, slow, failing]
        httpx.post(f"{failing.url()}/_control/fail-next", json={"count": 100000, "status": 500}).raise_for_status()

        self.proxy.start()
        v1, v2, v3 = version(1), version(2), version(3)
        blue = self.start_task(v1, upstream)
        await self.register("tg_blue", blue)
        self.proxy.route(prod="tg_blue", next_pct=0, test="tg_blue")
        self.allow({f"tg_blue/{blue.name}"})

        self.load = Load(f"http://127.0.0.1:{self.proxy.prod_port}", a.clients, a.max_seconds, a.max_answers)
        load_task = asyncio.create_task(self.load.run())
        await asyncio.sleep(a.warmup_seconds)
        self.timeline.mark(f"load running: {a.clients} clients, {len(self.load.answers)} answers so far")

        green = await self.deploy("tg_blue", blue, v2, upstream, "all-at-once", long_answer=True)
        await asyncio.sleep(a.settle_seconds)
        green = await self.deploy("tg_green", green, v3, upstream, "canary", long_answer=False)
        await asyncio.sleep(a.settle_seconds)
        n = 4
        for kind in ("wrong-image", "500s", "slow-first-token"):
            await self.broken("tg_green", "tg_blue", kind, n, upstream, slow, failing)
            n += 1
        await asyncio.sleep(a.settle_seconds)

        self.load.stop.set()
        self.allow(set())  # closes the last window
        answers = await asyncio.wait_for(load_task, 300)
        self.timeline.mark(f"load stopped: {len(answers)} answers")
        return self.verdict(answers)

    def verdict(self, answers: list[Answer]) -> dict:
        done = [x for x in answers if x.outcome == "done"]
        not_done = [x for x in answers if x.outcome != "done"]
        non_2xx = [x for x in answers if x.status != 200]
        self.check(len(answers) > 0, f"the load asked for answers ({len(answers)})")
        self.check(not not_done, f"0 broken or failed streams: {len(not_done)} of {len(answers)} did not end with done/[DONE]"
                   + (f" (first: {[x.outcome for x in not_done[:5]]})" if not_done else ""))
        self.check(not non_2xx, f"0 non-2xx after retries of `draining` ({len(non_2xx)})")
        bad = [x for x in answers if x.served_by in self.bad_labels]
        self.check(not bad, f"0 answers served by a broken green ({len(bad)})")

        def allowed_at(x: Answer) -> set[str]:
            # Routing happens when the request reaches the proxy, a moment after `started`: any
            # window the request was in flight in counts.
            servers: set[str] = set()
            for start, end, allowed in self.allowed:
                if start <= x.ended and (end is None or x.started < end):
                    servers |= allowed
            return servers

        wrong = [x for x in answers if x.status == 200 and x.served_by not in allowed_at(x)]
        self.check(not wrong, f"every answer served by a version the timeline allows ({len(wrong)} not)"
                   + "".join(f"; {x.api} started at {x.started - self.timeline.t0:.2f} s, ended {x.ended - self.timeline.t0:.2f} s, "
                             f"served by {x.served_by}, allowed {sorted(allowed_at(x))}" for x in wrong[:3]))

        by_version: dict[str, int] = {}
        for x in answers:
            by_version[x.served_by or "-"] = by_version.get(x.served_by or "-", 0) + 1
        phases = {}
        switches = [d for d in self.deployments if "switch_at" in d]
        edges = [self.timeline.t0] + [d["switch_at"] for d in switches] + [float("inf")]
        for i, (lo, hi) in enumerate(zip(edges, edges[1:])):
            name = "before first switch" if i == 0 else f"after switch to {switches[i - 1]['green']}"
            phases[name] = latency([x for x in answers if lo <= x.started < hi])
        for d in switches:
            t = d["switch_at"]
            phases[f"±5 s around switch to {d['green']}"] = latency([x for x in answers if t - 5 <= x.started < t + 5])
        for d in self.deployments:
            d.pop("switch_at", None)
            d.pop("sigterm_at", None)
        return {
            "ok": not self.failures,
            "failures": self.failures,
            "answers": len(answers),
            "done": len(done),
            "draining_retries": sum(x.draining_retries for x in answers),
            "answers_retried_after_draining": sum(1 for x in answers if x.draining_retries),
            "by_version": dict(sorted(by_version.items())),
            "latency": phases,
            "deployments": self.deployments,
            "timeline": [(round(t - self.timeline.t0, 2), w) for t, w in self.timeline.events],
        }

    def cleanup(self) -> None:
        for p in self.procs:
            p.kill()
        self.proxy.stop()


def markdown(report: dict, meta: dict) -> str:
    t = meta["timings"]
    lines = [
        f"Cutover rehearsal: {meta['clients']} clients, scale {meta['scale']} (deregistration delay "
        f"{t['deregistration_delay_s']:.1f} s, DRAIN_SECONDS {t['drain_s']:.0f}, stopTimeout {t['stop_timeout_s']:.0f} s, "
        f"health check every {t['health_interval_s']:.1f} s, {t['healthy_threshold']} to turn healthy; canary "
        f"{t['canary_percent']} % for {meta['canary_seconds']:.1f} s), load average {meta['loadavg_before']} -> {meta['loadavg_after']}",
        "",
        f"- verdict: {'PASS' if report['ok'] else 'FAIL: ' + '; '.join(report['failures'])}",
        f"- answers: {report['answers']}, ended with done/[DONE]: {report['done']}; `draining` 503s retried: "
        f"{report['draining_retries']}",
        f"- served by: {', '.join(f'{k} {v}' for k, v in report['by_version'].items())}",
        "",
        "| deployment | green healthy | smoke | deregistration | SIGTERM -> exit | exit | notes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for d in report["deployments"]:
        notes = []
        if "canary" in d:
            c = d["canary"]
            notes.append(f"canary: {c['on_green']} of {c['answers']} answers on green ({c['share_pct']} %)")
        if "long_answer" in d:
            la = d["long_answer"]
            notes.append(f"long answer: `{la['outcome']}` after {la['tokens']} tokens, {la['lasted_s']} s, "
                         f"{la['ended_after_sigterm_s']} s after SIGTERM")
        if d["mode"].startswith("broken"):
            notes.append(f"first failed check: {str(d['smoke'].get('first_failure'))[:160].replace('|', '/')}")
        lines.append(
            f"| {d['mode']} {d.get('blue', '')}->{d['green']} | {d['green_healthy_s']} s | "
            f"{'pass' if d['smoke']['passed'] else 'fail'} ({d['smoke']['seconds']} s) | "
            f"{d.get('deregistration_s', '-')} s | {d.get('sigterm_to_exit_s', '-')} s | {d.get('exit_code', '-')} | {'; '.join(notes)} |"
        )
    lines += ["", "| answers started | n | TTFT p50 / p99 / max (ms) | total p50 / p99 / max (ms) |", "| --- | --- | --- | --- |"]
    for name, l in report["latency"].items():
        tt, to = l["ttft_ms"], l["total_ms"]
        lines.append(f"| {name} | {l['answers']} | {tt['p50']} / {tt['p99']} / {tt['max']} | {to['p50']} / {to['p99']} / {to['max']} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin-dir", required=True, help="directory with greenlight and fake-llm")
    p.add_argument("--cdk-out", default="cdk/cdk.out")
    p.add_argument("--scale", type=float, default=1.0, help="every shipped duration times this (CI: < 1, reported)")
    p.add_argument("--canary-seconds", type=float, help="the canary interval (default: the shipped one, scaled)")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--max-seconds", type=float, default=900, help="bound of the whole load")
    p.add_argument("--max-answers", type=int, default=500_000)
    p.add_argument("--warmup-seconds", type=float, default=3)
    p.add_argument("--settle-seconds", type=float, default=2)
    p.add_argument("--tokens", type=int, default=20)
    p.add_argument("--token-delay-ms", type=int, default=50)
    p.add_argument("--long-delay-ms", type=int, default=100)
    p.add_argument("--long-tokens", type=int, help="default: 1.3 x (deregistration delay + drain) of tokens")
    p.add_argument("--report", default="target/rehearse/cutover.json")
    a = p.parse_args()

    timings = shipped.read(Path(a.cdk_out)).scaled(a.scale)
    if a.canary_seconds is None:
        a.canary_seconds = timings.canary_interval_s or 0.0
    if a.long_tokens is None:
        a.long_tokens = int(1.3 * (timings.deregistration_delay_s + timings.drain_s) * 1000 / a.long_delay_ms) + 1
    if a.long_tokens > 1024:
        raise SystemExit("the long answer needs more than MAX_OUTPUT_TOKENS (1024) tokens: raise --long-delay-ms")
    shutil.which("haproxy") or sys.exit("haproxy is not installed (scripts/lib.sh: apt_install haproxy)")

    meta = {
        "clients": a.clients, "scale": a.scale, "canary_seconds": a.canary_seconds,
        "timings": timings.as_dict(), "shipped_timings": shipped.read(Path(a.cdk_out)).as_dict(),
        "loadavg_before": " ".join(open("/proc/loadavg").read().split()[:3]),
        "cpus": os.cpu_count(),
    }
    print(f"shipped timings (x{a.scale}): {json.dumps(timings.as_dict())}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="greenlight-rehearse-"))
    rehearsal = Rehearsal(a, timings, workdir)
    try:
        report = asyncio.run(rehearsal.run())
    finally:
        rehearsal.cleanup()
    meta["loadavg_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    report["meta"] = meta
    out = Path(a.report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print()
    print(markdown(report, meta))
    print(f"\nreport: {out}; logs: {workdir}")
    if report["ok"]:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
