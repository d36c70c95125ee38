#!/usr/bin/env bash
# Relay benchmark: the fake LLM upstream streamed to directly (the floor) against the same streams
# relayed through greenlight (LLM_PROVIDER=openai), at several concurrency levels, plus greenlight's
# CPU per 1000 answers, peak and idle RSS and cold start to /health 200. Loopback only, bounded in
# count and time. Not a test: scripts/test-all.sh does not run it.
#
#   scripts/bench/relay.sh                     # levels 10 100 500, the host (glibc) build
#   LEVELS="10 100" TOKENS=20 TOKEN_DELAY_MS=10 scripts/bench/relay.sh
#   TARGETS="host x86_64-unknown-linux-musl" ROUNDS=5 scripts/bench/relay.sh
#       # glibc against the static musl build the image ships, interleaved, 5 rounds
#   GREENLIGHT_BINS="before=/tmp/gl-old after=target/release/greenlight" ROUNDS=5 scripts/bench/relay.sh
#       # any prebuilt binaries (e.g. a saved copy from before a change); nothing is rebuilt
#   BASELINES="glibc musl" ...                 # also compare every build with musl, not only glibc
#   GREENLIGHT_BINS="off=target/release/greenlight emf=target/release/greenlight" \
#     GREENLIGHT_ENVS="emf:METRICS_EMF=true" LEVELS="10 100" ROUNDS=3 scripts/bench/relay.sh
#       # one binary run twice, with and without a setting (here the EMF metrics, as the task
#       # definition runs them): GREENLIGHT_ENVS adds "name:KEY=VALUE[,KEY=VALUE...]" to a variant
#   ROUTE=chat TOKENS=64 ...                   # greenlight's own /api/chat (deltas + html snapshots)
#       # instead of /v1/chat/completions; the floor is always the upstream's own stream
#
# Several builds ("variants") run side by side, one process each, and are measured in turn in
# every round, in an order that rotates from round to round, each right after its own floor run:
# on a shared machine, repeated interleaved A/B runs say more than one number. The load average is
# recorded before and after every round.
#
# Writes target/bench/relay.json (every run) and prints the markdown tables for BENCHMARKS.md.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

LEVELS=${LEVELS:-"10 100 500"}
TOKENS=${TOKENS:-20}
TOKEN_DELAY_MS=${TOKEN_DELAY_MS:-10}
MIN_REQUESTS=${MIN_REQUESTS:-300}
PER_STREAM=${PER_STREAM:-6}
COLD_STARTS=${COLD_STARTS:-20}
ROUNDS=${ROUNDS:-1}
# `host` is the host's own release build (target/release); anything else is a target triple.
TARGETS=${TARGETS:-host}
GREENLIGHT_BINS=${GREENLIGHT_BINS:-}
# Extra environment of a variant's server: "name:KEY=VALUE[,KEY=VALUE...]" entries.
GREENLIGHT_ENVS=${GREENLIGHT_ENVS:-}
# Which greenlight API the load goes through: `completions` (/v1/chat/completions) or `chat`
# (/api/chat, the browser's stream with its html snapshots).
ROUTE=${ROUTE:-completions}
[[ $ROUTE =~ ^(completions|chat)$ ]] || die "ROUTE must be completions or chat, got '$ROUTE'"
# Variants the others are compared with round by round (default: the first one).
BASELINES=${BASELINES:-}
OUT=$CARGO_TARGET_DIR/bench
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got '$ROUNDS'"

step "cargo build --release (fake-llm, bench-load)"
cargo build --release --locked -p greenlight-fake-llm --bins
BIN=$CARGO_TARGET_DIR/release

# The variants: "name=path" pairs.
variants=()
if [ -n "$GREENLIGHT_BINS" ]; then
  for pair in $GREENLIGHT_BINS; do
    [[ $pair == ?*=?* ]] || die "GREENLIGHT_BINS entries are name=path, got '$pair'"
    [ -x "${pair#*=}" ] || die "GREENLIGHT_BINS: ${pair#*=} is not an executable"
    variants+=("$pair")
  done
else
  for target in $TARGETS; do
    if [ "$target" = host ]; then
      step "cargo build --release -p greenlight (host)"
      cargo build --release --locked -p greenlight
      host=$(rustc -vV | sed -n 's/^host: //p')
      name=$([[ $host == *-gnu ]] && echo glibc || echo "$host")
      variants+=("$name=$BIN/greenlight")
    else
      rustup target list --installed | grep -qx "$target" || rustup target add "$target"
      # aws-lc-sys compiles C for the target: musl needs musl-gcc.
      [[ $target != *-musl ]] || apt_install musl-tools
      step "cargo build --release --target $target -p greenlight"
      cargo build --release --locked --target "$target" -p greenlight
      name=$([[ $target == *-musl ]] && echo musl || echo "$target")
      variants+=("$name=$CARGO_TARGET_DIR/$target/release/greenlight")
    fi
  done
fi
names=()
for pair in "${variants[@]}"; do names+=("${pair%%=*}"); done
[ "$(printf '%s\n' "${names[@]}" | sort -u | wc -l)" = "${#names[@]}" ] || die "variant names repeat: ${names[*]}"
declare -A VARIANT_ENV
for entry in $GREENLIGHT_ENVS; do
  [[ $entry =~ ^[^:]+:[A-Z_][A-Z0-9_]*=[^,]*(,[A-Z_][A-Z0-9_]*=[^,]*)*$ ]] ||
    die "GREENLIGHT_ENVS entries are name:KEY=VALUE[,KEY=VALUE...], got '$entry'"
  name=${entry%%:*}
  [[ " ${names[*]} " == *" $name "* ]] || die "GREENLIGHT_ENVS: '$name' is no variant (${names[*]})"
  VARIANT_ENV[$name]=${entry#*:}
done

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

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sys_ticks() { awk '{print $15}' "/proc/$1/stat"; } # the kernel's share: socket reads and writes
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg | tr ' ' ','; }

# greenlight as the benchmark runs it: openai provider on the fake, no per-client rate limit
# (every request comes from 127.0.0.1), logs kept (one JSON line per chat) but thrown away.
greenlight_env() { # binary port [KEY=VALUE,KEY=VALUE...]
  local extra=()
  [ -z "${3:-}" ] || IFS=, read -ra extra <<<"$3"
  # exec: the background job becomes greenlight itself, so $! is the PID whose CPU and RSS count.
  exec env LLM_PROVIDER=openai OPENAI_BASE_URL="$FAKE/v1" LLM_MODEL=fake-model \
    RATE_LIMIT_PER_MINUTE=0 LOG_FORMAT=json HOST=127.0.0.1 PORT="$2" "${extra[@]}" "$1" serve
}
declare -A GL_PID GL_URL
variants_json="["
for pair in "${variants[@]}"; do
  name=${pair%%=*} binary=${pair#*=}
  port=$(free_port)
  greenlight_env "$binary" "$port" "${VARIANT_ENV[$name]:-}" >/dev/null 2>&1 &
  GL_PID[$name]=$!
  pids+=("$!")
  for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.05; done
  curl -fs "http://127.0.0.1:$port/ready" >/dev/null || die "greenlight ($name) is not ready on :$port"
  if [ "$ROUTE" = chat ]; then GL_URL[$name]="http://127.0.0.1:$port"; else GL_URL[$name]="http://127.0.0.1:$port/v1"; fi
  sleep 0.3
  pid=${GL_PID[$name]}
  variants_json+="{\"name\":\"$name\",\"binary\":\"$binary\",\"env\":\"${VARIANT_ENV[$name]:-}\",\"size_bytes\":$(stat -c %s "$binary"),"
  variants_json+="\"idle_rss_after_start_kib\":$(status_kib "$pid" VmRSS),\"threads_idle\":$(status_kib "$pid" Threads)},"
done
variants_json="${variants_json%,}]"

load() { # url concurrency requests [route]
  "$BIN/bench-load" --url "$1" --concurrency "$2" --requests "$3" --max-seconds 120 --route "${4:-completions}"
}

runs=$OUT/relay-runs.jsonl
: >"$runs"
for round in $(seq "$ROUNDS"); do
  # Rotate the order each round so no variant always runs first (or right after the floor).
  shift_by=$(((round - 1) % ${#names[@]}))
  order=("${names[@]:shift_by}" "${names[@]:0:shift_by}")
  load_before=$(loadavg)
  for n in $LEVELS; do
    requests=$((n * PER_STREAM)); ((requests >= MIN_REQUESTS)) || requests=$MIN_REQUESTS
    warm=$((n < 50 ? 50 : n))
    step "round $round/$ROUNDS, concurrency $n: $requests answers direct, then through ${order[*]} (load $(loadavg))"
    load "$FAKE/v1" "$n" "$warm" >/dev/null # warm-up: connections, page cache
    direct=$(load "$FAKE/v1" "$n" "$requests")
    echo "{\"round\":$round,\"concurrency\":$n,\"who\":null,\"result\":$direct}" >>"$runs"
    for name in "${order[@]}"; do
      pid=${GL_PID[$name]}
      load "${GL_URL[$name]}" "$n" "$warm" "$ROUTE" >/dev/null # warm-up of greenlight's pools
      before=$(cpu_ticks "$pid") sys_before=$(sys_ticks "$pid")
      through=$(load "${GL_URL[$name]}" "$n" "$requests" "$ROUTE")
      after=$(cpu_ticks "$pid") sys_after=$(sys_ticks "$pid")
      cpu_s=$(python3 -c "print(($after-$before)/$ticks)")
      sys_s=$(python3 -c "print(($sys_after-$sys_before)/$ticks)")
      echo "{\"round\":$round,\"concurrency\":$n,\"who\":\"$name\",\"result\":$through,\"cpu_s\":$cpu_s,\"sys_s\":$sys_s,\"vmhwm_kib\":$(status_kib "$pid" VmHWM)}" >>"$runs"
    done
  done
  echo "{\"round\":$round,\"loadavg_before\":[$load_before],\"loadavg_after\":[$(loadavg)]}" >>"$runs"
done
for name in "${names[@]}"; do kill "${GL_PID[$name]}"; done

step "cold start to /health 200 ($COLD_STARTS runs per variant, interleaved) and idle RSS"
cold=$(python3 - "$FAKE" "$COLD_STARTS" "${variants[@]}" <<'PY'
import http.client, json, os, socket, statistics, subprocess, sys, time
fake, runs, variants = sys.argv[1], int(sys.argv[2]), [v.split("=", 1) for v in sys.argv[3:]]

def status(pid):
    with open(f"/proc/{pid}/status") as f:
        return {l.split(":")[0]: l.split()[1] for l in f if l.split(":")[0] in
                ("VmRSS", "RssAnon", "RssFile", "Threads")}

def one(binary):
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
    ms = (time.perf_counter() - t0) * 1000
    time.sleep(0.5)
    st = status(p.pid)
    p.terminate(); p.wait(timeout=30)
    return ms, st

samples = {name: [] for name, _ in variants}
for _ in range(runs):
    for name, binary in variants:  # interleaved: each variant sees the same machine load
        samples[name].append(one(binary))
out = {}
for name, got in samples.items():
    times = [t for t, _ in got]
    med = lambda key: statistics.median(int(st[key]) for _, st in got)
    out[name] = {"cold_start_ms": {"median": statistics.median(times), "min": min(times), "max": max(times)},
                 "idle_rss_kib": {"median": med("VmRSS"), "max": max(int(st["VmRSS"]) for _, st in got)},
                 "idle_rss_anon_kib": med("RssAnon"), "idle_rss_file_kib": med("RssFile"),
                 "threads": med("Threads")}
print(json.dumps(out))
PY
)

machine=$(python3 - <<'PY'
import json, os, platform, datetime
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
print(json.dumps({"nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
                  "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}))
PY
)
python3 - "$runs" >"$OUT/relay.json" <<PY
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
print(json.dumps({"machine": $machine, "route": "$ROUTE", "tokens": $TOKENS, "token_delay_ms": $TOKEN_DELAY_MS,
                  "per_stream": $PER_STREAM, "rounds": $ROUNDS, "variants": $variants_json,
                  "runs": [l for l in lines if "result" in l],
                  "load": [l for l in lines if "loadavg_before" in l], "start": $cold}))
PY

# shellcheck disable=SC2086 # BASELINES is a list of names
python3 "$ROOT/scripts/bench/report.py" "$OUT/relay.json" $BASELINES
