"""Capacity of one task: greenlight limited like a Fargate task (CPU quota and memory limit with
cgroups), streaming from fake-llm, under bench-load at rising concurrency until time to first
token p99 passes the budget or an error appears. Reports the largest concurrency that held and the
memory per open stream. Loopback only; every step is bounded in count and time.

cgroup v2 where the machine has it (a `cgroup2` mount at /sys/fs/cgroup), else v1's cpu and
memory controllers (cpu.cfs_quota_us/cpu.cfs_period_us, memory.limit_in_bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from procs import fake_llm, greenlight

ROOT_CG = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Cgroup:
    """A CPU quota and a memory limit for one process tree."""

    def __init__(self, name: str, cpus: float, memory_mib: int):
        self.v2 = any(
            fields[1] == str(ROOT_CG) and fields[2] == "cgroup2"
            for fields in (line.split() for line in Path("/proc/mounts").read_text().splitlines())
        )
        quota = int(cpus * PERIOD_US)
        limit = memory_mib * 1024 * 1024
        if self.v2:
            self.dirs = [ROOT_CG / name]
            self.dirs[0].mkdir(exist_ok=True)
            (self.dirs[0] / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            (self.dirs[0] / "memory.max").write_text(str(limit))
            (self.dirs[0] / "memory.swap.max").write_text("0")
        else:
            cpu, mem = ROOT_CG / "cpu" / name, ROOT_CG / "memory" / name
            cpu.mkdir(exist_ok=True)
            mem.mkdir(exist_ok=True)
            (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (cpu / "cpu.cfs_quota_us").write_text(str(quota))
            (mem / "memory.limit_in_bytes").write_text(str(limit))
            self.dirs = [cpu, mem]
        self.cpus, self.memory_mib = cpus, memory_mib

    def applied(self) -> dict:
        """The limits as the kernel reports them back."""
        if self.v2:
            quota, period = (self.dirs[0] / "cpu.max").read_text().split()
            return {"cgroup": "v2", "cpus": int(quota) / int(period), "memory_mib": int((self.dirs[0] / "memory.max").read_text()) / 2**20}
        cpu, mem = self.dirs
        quota = int((cpu / "cpu.cfs_quota_us").read_text())
        period = int((cpu / "cpu.cfs_period_us").read_text())
        return {"cgroup": "v1", "cpus": quota / period, "memory_mib": int((mem / "memory.limit_in_bytes").read_text()) / 2**20}

    def join(self) -> None:
        """Moves the calling process into the group (run in the child before exec)."""
        for d in self.dirs:
            (d / "cgroup.procs").write_text(str(os.getpid()))

    def memory_bytes(self) -> int:
        f = self.dirs[0] / "memory.current" if self.v2 else self.dirs[1] / "memory.usage_in_bytes"
        return int(f.read_text())

    def oom_events(self) -> int:
        if self.v2:
            for line in (self.dirs[0] / "memory.events").read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
            return 0
        return int((self.dirs[1] / "memory.failcnt").read_text())

    def remove(self) -> None:
        for d in self.dirs:
            try:
                d.rmdir()
            except OSError:
                pass


def probe(a: argparse.Namespace, cpus: float, workdir: Path) -> dict:
    bin_dir = Path(a.bin_dir)
    cg = Cgroup(f"greenlight-capacity-{os.getpid()}-{str(cpus).replace('.', '_')}", cpus, a.memory_mib)
    upstream = fake_llm(bin_dir, workdir, f"fake-llm-{cpus}", "--tokens", str(a.tokens), "--token-delay-ms", str(a.token_delay_ms))
    task = greenlight(bin_dir, workdir, f"greenlight-{cpus}", upstream, image="capacity", commit="capacity", drain_s=1,
                      preexec=cg.join)
    result: dict = {"limits": cg.applied(), "steps": []}
    try:
        time.sleep(1.0)
        result["idle_rss_kib"] = task.rss_kib()
        for level in a.levels:
            samples: list[int] = []
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    try:
                        samples.append(task.rss_kib())
                    except OSError:
                        return
                    time.sleep(0.05)

            sampler = threading.Thread(target=sample)
            sampler.start()
            before = loadavg()
            run = subprocess.run(
                [str(bin_dir / "bench-load"), "--url", f"{task.url()}/v1", "--concurrency", str(level),
                 "--requests", str(level * a.per_stream), "--max-seconds", str(a.step_seconds),
                 "--request-timeout-seconds", "30", "--model", "fake-model"],
                capture_output=True, text=True, timeout=a.step_seconds + 60,
            )
            stop.set()
            sampler.join()
            if run.returncode != 0:
                raise RuntimeError(f"bench-load failed: {run.stderr[-2000:]}")
            r = json.loads(run.stdout.strip().splitlines()[-1])
            peak = max(samples, default=0)
            step = {
                "concurrency": level,
                "answers": r["answers"],
                "errors": r["errors"],
                "error_kinds": r["error_kinds"],
                "answers_per_s": round(r["answers_per_s"], 1),
                "ttft_ms": r["ttft_ms"],
                "total_ms": r["total_ms"],
                "peak_rss_kib": peak,
                "kib_per_stream": round((peak - result["idle_rss_kib"]) / level, 1),
                "task_alive": task.alive(),
                "oom_events": cg.oom_events(),
                "loadavg": f"{before} -> {loadavg()}",
            }
            step["held"] = step["errors"] == 0 and step["task_alive"] and r["ttft_ms"]["p99"] <= a.ttft_budget_ms
            result["steps"].append(step)
            print(json.dumps(step), flush=True)
            if not step["held"]:
                break
        held = [s for s in result["steps"] if s["held"]]
        result["largest_concurrency_held"] = held[-1]["concurrency"] if held else 0
        result["kib_per_open_stream"] = held[-1]["kib_per_stream"] if held else None
        result["stopped_because"] = (
            "every level held" if len(held) == len(result["steps"]) else
            ("errors" if result["steps"][-1]["errors"] else
             "task died" if not result["steps"][-1]["task_alive"] else f"TTFT p99 above {a.ttft_budget_ms} ms")
        )
    finally:
        task.kill()
        upstream.kill()
        time.sleep(0.2)
        cg.remove()
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin-dir", required=True)
    p.add_argument("--cpus", type=float, nargs="+", default=[0.25, 1.0], help="vCPUs of the task (Fargate: 0.25 is the default task)")
    p.add_argument("--memory-mib", type=int, default=512)
    p.add_argument("--levels", type=int, nargs="+", default=[25, 50, 100, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200])
    p.add_argument("--per-stream", type=int, default=4, help="answers asked per stream at each level")
    p.add_argument("--step-seconds", type=int, default=60, help="bound of one level")
    p.add_argument("--ttft-budget-ms", type=float, default=1000)
    p.add_argument("--tokens", type=int, default=40)
    p.add_argument("--token-delay-ms", type=int, default=25, help="fake-llm's pace: 40 tokens/s, like a hosted model")
    p.add_argument("--report", default="target/rehearse/capacity.json")
    p.add_argument("--require-held", action="store_true", help="exit 1 unless the first level held (CI)")
    a = p.parse_args()

    workdir = Path(f"/tmp/greenlight-capacity-{os.getpid()}")
    workdir.mkdir(parents=True, exist_ok=True)
    report = {"machine": {"cpus": os.cpu_count(), "loadavg_before": loadavg(), "kernel": os.uname().release},
              "settings": {k: v for k, v in vars(a).items() if k not in ("report",)}, "tasks": {}}
    for cpus in a.cpus:
        report["tasks"][str(cpus)] = probe(a, cpus, workdir)
    report["machine"]["loadavg_after"] = loadavg()
    out = Path(a.report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))

    print(f"\nmachine: {os.cpu_count()} CPUs, load average {report['machine']['loadavg_before']} -> {report['machine']['loadavg_after']}")
    print("| vCPU | memory | concurrency | answers | errors | answers/s | TTFT p50 / p99 (ms) | total p99 (ms) | peak RSS (MiB) | KiB per stream | held |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for cpus, r in report["tasks"].items():
        for s in r["steps"]:
            print(f"| {cpus} | {a.memory_mib} MiB | {s['concurrency']} | {s['answers']} | {s['errors']} | {s['answers_per_s']} | "
                  f"{s['ttft_ms']['p50']:.0f} / {s['ttft_ms']['p99']:.0f} | {s['total_ms']['p99']:.0f} | "
                  f"{s['peak_rss_kib'] / 1024:.1f} | {s['kib_per_stream']} | {'yes' if s['held'] else 'no'} |")
        print(f"\n{cpus} vCPU: largest concurrency that held: {r['largest_concurrency_held']} "
              f"({r['stopped_because']}); idle RSS {r['idle_rss_kib'] / 1024:.1f} MiB; {r['kib_per_open_stream']} KiB per open stream\n")
    if a.require_held and any(not r["steps"] or not r["steps"][0]["held"] for r in report["tasks"].values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
