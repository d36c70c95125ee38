"""A real HAProxy (Debian's) standing for the ALB: a production and a test listener, and two
backends standing for the blue and green target groups. Everything a deployment changes goes
through HAProxy's runtime API on a unix socket, as CodeDeploy goes through the ELB API:

- `add server` / `enable health` / `enable server`: a task registers in a target group, and the
  target group's health check (the shipped path, interval, timeout and thresholds) decides when it
  takes traffic;
- `set map`: the listeners' forward actions. The production listener forwards to `prod`, and to
  `next` for `next_pct` % of requests (the ALB's weighted forward action, i.e. a canary); the test
  listener forwards to `test`;
- `set server … state drain`: deregistration (no new requests; open ones go on);
- `show stat`: a target's health and its open connections.

Every answer carries `X-Served-By: <target group>/<task>` so the load client knows which version
answered.
"""

from __future__ import annotations

import csv
import io
import socket
import subprocess
import time
from pathlib import Path

from shipped import Timings

BACKENDS = ("tg_blue", "tg_green")

CONFIG = """\
global
    stats socket {sock} mode 600 level admin
    maxconn 8000
    pidfile {dir}/haproxy.pid

defaults
    mode http
    timeout connect 2s
    # Streams may run for minutes: longer than the longest answer the rehearsal opens.
    timeout client 10m
    timeout server 10m
    timeout http-request 10s
    timeout check {check_ms}ms
    maxconn 8000

frontend production
    bind 127.0.0.1:{prod_port}
    http-request set-var(txn.next_pct) str(next_pct),map_str_int({weights},0)
    http-request set-var(txn.dice) rand(100)
    use_backend %[str(next),map({map})] if {{ var(txn.dice),sub(txn.next_pct) -m int lt 0 }}
    use_backend %[str(prod),map({map})]
    http-response set-header X-Served-By %b/%s

frontend test
    bind 127.0.0.1:{test_port}
    use_backend %[str(test),map({map})]
    http-response set-header X-Served-By %b/%s
{backends}
"""

BACKEND = """
backend {name}
    balance roundrobin
    option httpchk GET {health_path}
    http-check expect status 200
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HAProxy:
    def __init__(self, workdir: Path, timings: Timings):
        self.dir = workdir
        self.sock = workdir / "admin.sock"
        self.map = workdir / "routes.map"  # listener -> target group
        self.weights = workdir / "weights.map"  # the canary's share (integers only)
        self.timings = timings
        self.prod_port = free_port()
        self.test_port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        # The keys the listeners read; the values change at run time through `set map`.
        self.map.write_text("prod tg_blue\nnext tg_green\ntest tg_green\n")
        self.weights.write_text("next_pct 0\n")
        config = self.dir / "haproxy.cfg"
        config.write_text(
            CONFIG.format(
                sock=self.sock,
                dir=self.dir,
                map=self.map,
                weights=self.weights,
                prod_port=self.prod_port,
                test_port=self.test_port,
                check_ms=max(100, int(self.timings.health_timeout_s * 1000)),
                backends="".join(BACKEND.format(name=b, health_path=self.timings.health_path) for b in BACKENDS),
            )
        )
        subprocess.run(["haproxy", "-c", "-q", "-f", str(config)], check=True)
        log = open(self.dir / "haproxy.log", "wb")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.sock.exists():
                try:
                    self.command("show info")
                    return
                except OSError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.proc.returncode}; see {self.dir}/haproxy.log")
            time.sleep(0.05)
        raise RuntimeError("haproxy's runtime API did not come up within 10 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    # --- the runtime API ----------------------------------------------------------------------
    def command(self, cmd: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.sock))
            s.sendall(cmd.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def checked(self, cmd: str) -> str:
        out = self.command(cmd)
        lowered = out.lower()
        if any(w in lowered for w in ("unknown", "error", "not found", "no such", "require", "invalid")):
            raise RuntimeError(f"haproxy runtime API refused {cmd!r}: {out.strip()}")
        return out

    def route(self, **routes: str | int) -> None:
        """Sets listener routes: prod=, next=, next_pct=, test=."""
        for key, value in routes.items():
            self.checked(f"set map {self.weights if key == 'next_pct' else self.map} {key} {value}")

    def register(self, backend: str, name: str, port: int) -> None:
        t = self.timings
        self.checked(
            f"add server {backend}/{name} 127.0.0.1:{port} check"
            f" inter {max(100, int(t.health_interval_s * 1000))}"
            f" rise {t.healthy_threshold} fall {t.unhealthy_threshold}"
        )
        # A new target is not healthy until the health check says so (the ALB's "initial" state):
        # HAProxy assumes a server leaving maintenance is UP, so it is set DOWN at once and needs
        # `rise` good checks. (No listener routes requests to this target group yet.)
        self.checked(f"enable health {backend}/{name}")
        self.checked(f"enable server {backend}/{name}")
        self.checked(f"set server {backend}/{name} health down")

    def deregister(self, backend: str, name: str) -> None:
        """No new requests to this target; its open ones go on (the ALB's draining)."""
        self.checked(f"set server {backend}/{name} state drain")

    def remove(self, backend: str, name: str) -> None:
        self.checked(f"set server {backend}/{name} state maint")
        self.command(f"shutdown sessions server {backend}/{name}")
        self.checked(f"del server {backend}/{name}")

    def stat(self, backend: str, name: str) -> dict[str, str]:
        text = self.command("show stat").lstrip("# ")
        for row in csv.DictReader(io.StringIO(text)):
            if row.get("pxname") == backend and row.get("svname") == name:
                return row
        raise RuntimeError(f"no server {backend}/{name} in `show stat`")

    def wait_healthy(self, backend: str, name: str, timeout_s: float) -> float:
        """Seconds until the target group's health check marked the target UP."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.stat(backend, name).get("status") == "UP":  # not "UP 1/2" (going down)
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"{backend}/{name} not healthy within {timeout_s:.1f} s: {self.stat(backend, name).get('status')}")

    def open_connections(self, backend: str, name: str) -> int:
        return int(self.stat(backend, name).get("scur") or 0)
