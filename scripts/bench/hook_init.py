"""Measures the green-light hook's init time: from starting the bootstrap binary to its first
`GET /2018-06-01/runtime/invocation/next` on a local Lambda Runtime API (this script serves it).
That is the time Lambda's INIT phase would bill before the first invocation can be handed over.

Usage: python scripts/bench/hook_init.py BOOTSTRAP [--runs 20]
"""

import argparse
import http.server
import os
import statistics
import subprocess
import threading
import time

_first_poll = threading.Event()


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the stdlib's name)
        if self.path.startswith("/2018-06-01/runtime/invocation/next"):
            _first_poll.set()
            # Hold the poll open like Lambda does between invocations; the process is then stopped.
            time.sleep(5)
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(
        os.environ,
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_port}",
        AWS_LAMBDA_FUNCTION_NAME="greenlight-hook",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/greenlight-hook",
        AWS_LAMBDA_LOG_STREAM_NAME="bench",
        AWS_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        TEST_LISTENER_URL="http://127.0.0.1:8080",
    )
    times = []
    for _ in range(args.runs):
        _first_poll.clear()
        start = time.perf_counter()
        proc = subprocess.Popen([args.bootstrap], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not _first_poll.wait(10):
                raise SystemExit("the bootstrap never polled for an invocation")
            times.append((time.perf_counter() - start) * 1000)
        finally:
            proc.kill()
            proc.wait()
    times.sort()
    print(
        f"init to first poll over {len(times)} runs: median {statistics.median(times):.1f} ms, "
        f"min {times[0]:.1f} ms, max {times[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
