"""The real processes of the rehearsals: fake-llm upstreams and greenlight tasks, on loopback."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


def _wait_listening(proc: subprocess.Popen, log: Path, what: str, timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if m := LISTENING.search(log.read_text(errors="replace")):
            return int(m.group(1))
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; see {log}")
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen within {timeout_s} s; see {log}")


@dataclass
class Proc:
    name: str
    proc: subprocess.Popen
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float) -> int | None:
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(5)

    def rss_kib(self) -> int:
        return _status_kib(self.pid, "VmRSS")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def fake_llm(bin_dir: Path, workdir: Path, name: str, *args: str) -> Proc:
    log = workdir / f"{name}.log"
    proc = subprocess.Popen(
        [str(bin_dir / "fake-llm"), "--port", "0", *args],
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    return Proc(name, proc, _wait_listening(proc, log, name), log)


def greenlight(
    bin_dir: Path,
    workdir: Path,
    name: str,
    upstream: Proc,
    *,
    image: str,
    commit: str,
    drain_s: float,
    extra_env: dict[str, str] | None = None,
    preexec=None,
) -> Proc:
    """One greenlight task: the openai provider in front of `upstream`, port picked by the OS."""
    log = workdir / f"{name}.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOST": "127.0.0.1",
        "PORT": "0",
        "LLM_PROVIDER": "openai",
        "LLM_MODEL": "fake-model",
        "OPENAI_BASE_URL": f"{upstream.url()}/v1",
        "OPENAI_API_KEY": "rehearsal",
        "IMAGE_URI": image,
        "GIT_COMMIT": commit,
        "DRAIN_SECONDS": str(int(drain_s)),
        # The load clients all come from 127.0.0.1 through the proxy: one "client" for the
        # per-client rate limit, which would refuse them. The limit is not what is rehearsed.
        "RATE_LIMIT_PER_MINUTE": "0",
        "LOG_FORMAT": "json",
        "RUST_LOG": "info",
    }
    env.update(extra_env or {})
    proc = subprocess.Popen(
        [str(bin_dir / "greenlight"), "serve"],
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        env=env,
        preexec_fn=preexec,
    )
    return Proc(name, proc, _wait_listening(proc, log, name), log, env)
