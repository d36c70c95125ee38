#!/usr/bin/env bash
# Relay benchmark: the fake LLM upstream streamed to directly (the floor) against the same streams
# relayed through greenlight (LLM_PROVIDER=openai), at several concurrency levels, plus greenlight's
# CPU per 1000 answers, peak and idle RSS and cold start to /health 200. Loopback only, bounded in
# count and time. Not a test: scripts/test-all.sh does not run it.
#
#   scripts/bench/relay.sh                     # levels 10 100 500
#   LEVELS="10 100" TOKENS=20 TOKEN_DELAY_MS=10 scripts/bench/relay.sh
#
# Writes target/bench/relay.json and prints a markdown table for BENCHMARKS.md.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

LEVELS=${LEVELS:-"10 100 500"}
TOKENS=${TOKENS:-20}
TOKEN_DELAY_MS=${TOKEN_DELAY_MS:-10}
MIN_REQUESTS=${MIN_REQUESTS:-300}
PER_STREAM=${PER_STREAM:-6}
COLD_STARTS=${COLD_STARTS:-20}
OUT=$CARGO_TARGET_DIR/bench
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

step "cargo build --release (greenlight, fake-llm, bench-load)"
cargo build --release --locked -p greenlight -p greenlight-fake-llm --bins
BIN=$CARGO_TARGET_DIR/release

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

step "start fake-llm ($TOKENS tokens, ${TOKEN_DELAY_MS} ms apart)"
"$BIN/fake-llm" --port 0 --tokens "$TOKENS" --token-delay-ms "$TOKEN_DELAY_MS" >"$OUT/fake-llm.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on ' "$OUT/fake-llm.out" && break; sleep 0.05; done
FAKE=$(sed -n 's/^listening on //p' "$OUT/fake-llm.out" | head -1)
[ -n "$FAKE" ] || die "fake-llm did not start"

# greenlight as the benchmark runs it: openai provider on the fake, no per-client rate limit
# (every request comes from 127.0.0.1), logs kept (one JSON line per chat) but thrown away.
greenlight_env() {
  # exec: the background job becomes greenlight itself, so $! is the PID whose CPU and RSS count.
  exec env LLM_PROVIDER=openai OPENAI_BASE_URL="$FAKE/v1" LLM_MODEL=fake-model \
    RATE_LIMIT_PER_MINUTE=0 LOG_FORMAT=json HOST=127.0.0.1 PORT="$1" "$BIN/greenlight" serve
}
GL_PORT=$(free_port)
greenlight_env "$GL_PORT" >/dev/null 2>&1 &
GL_PID=$!
pids+=("$GL_PID")
for _ in $(seq 200); do curl -fs "http://127.0.0.1:$GL_PORT/health" >/dev/null && break; sleep 0.05; done
curl -fs "http://127.0.0.1:$GL_PORT/ready" >/dev/null || die "greenlight is not ready on :$GL_PORT"
GL="http://127.0.0.1:$GL_PORT/v1"

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

IDLE_RSS_KIB=$(status_kib "$GL_PID" VmRSS)

load() { # url concurrency requests
  "$BIN/bench-load" --url "$1" --concurrency "$2" --requests "$3" --max-seconds 120
}

results="["
for n in $LEVELS; do
  requests=$((n * PER_STREAM)); ((requests >= MIN_REQUESTS)) || requests=$MIN_REQUESTS
  step "concurrency $n: $requests answers direct, then through greenlight"
  load "$FAKE/v1" "$n" "$requests" >/dev/null  # warm-up: connections, page cache
  direct=$(load "$FAKE/v1" "$n" "$requests")
  load "$GL" "$n" "$((n < 50 ? 50 : n))" >/dev/null  # warm-up of greenlight's pools
  before=$(cpu_ticks "$GL_PID")
  through=$(load "$GL" "$n" "$requests")
  after=$(cpu_ticks "$GL_PID")
  hwm=$(status_kib "$GL_PID" VmHWM)
  results+="{\"concurrency\":$n,\"direct\":$direct,\"through\":$through,\"cpu_s\":$(python3 -c "print(($after-$before)/$ticks)"),\"vmhwm_kib\":$hwm},"
done
results="${results%,}]"
kill "$GL_PID"

step "cold start to /health 200 ($COLD_STARTS runs) and idle RSS"
cold=$(python3 - "$BIN/greenlight" "$FAKE" "$COLD_STARTS" <<'PY'
import http.client, json, os, socket, statistics, subprocess, sys, time
binary, fake, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
times, idle = [], []
for _ in range(runs):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    env = dict(os.environ, LLM_PROVIDER="openai", OPENAI_BASE_URL=fake + "/v1", LLM_MODEL="fake-model",
               HOST="127.0.0.1", PORT=str(port), LOG_FORMAT="json")
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.0002)
        if time.perf_counter() - t0 > 10:
            sys.exit("greenlight did not answer /health within 10 s")
    times.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.5)
    with open(f"/proc/{p.pid}/status") as f:
        idle.append(next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")))
    p.terminate(); p.wait(timeout=30)
print(json.dumps({"cold_start_ms": {"median": statistics.median(times), "min": min(times), "max": max(times)},
                  "idle_rss_kib": {"median": statistics.median(idle), "max": max(idle)}}))
PY
)

machine=$(python3 - <<'PY'
import json, os, platform, subprocess, datetime
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
print(json.dumps({"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
                  "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}))
PY
)
echo "{\"machine\":$machine,\"tokens\":$TOKENS,\"token_delay_ms\":$TOKEN_DELAY_MS,\"idle_rss_after_start_kib\":$IDLE_RSS_KIB,\"levels\":$results,\"start\":$cold}" >"$OUT/relay.json"

python3 "$ROOT/scripts/bench/report.py" "$OUT/relay.json"
