"""Starts the real greenlight binary (offline provider, PORT=0) once for the tests in this folder."""

import json
import os
import pathlib
import queue
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BIN = os.environ.get("GREENLIGHT_BIN", str(TARGET / "debug" / "greenlight"))
CLEARED = ("HOST", "PORT", "LLM_PROVIDER", "LLM_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY",
           "RATE_LIMIT_PER_MINUTE", "LOG_FORMAT", "RUST_LOG")


def _wait_ready(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError:
            pass  # 503 while the knowledge base loads
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}/ready did not turn 200 within {seconds} s")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def server_url():
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update({"PORT": "0", "LOG_FORMAT": "json"})
    proc = subprocess.Popen([BIN], env=env, stdout=subprocess.PIPE, text=True)
    urls: queue.Queue = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:  # keep draining, so the pipe never fills
            if "listening on http://" in line:
                message = json.loads(line)["message"]
                urls.put(message.split("listening on ", 1)[1].strip())

    threading.Thread(target=read, daemon=True).start()
    try:
        url = urls.get(timeout=20)
        _wait_ready(url, 20)
        yield url
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0, "greenlight exits 0 on SIGTERM"
