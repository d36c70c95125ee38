#!/usr/bin/env bash
# Reliability, small: the blue/green cutover rehearsal (20 clients, the shipped timings x0.2), the
# fuzz targets briefly, the capacity probe at one step and a short soak. The full-size runs are the
# same scripts with their defaults (RELIABILITY.md).
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT" || exit

python_env
step "shellcheck scripts/rehearse"
shellcheck -x scripts/rehearse/*.sh scripts/ci/reliability.sh

export PROFILE=debug # the rust stage's build
t=$SECONDS
CLIENTS=${REHEARSE_CLIENTS:-20} SCALE=${REHEARSE_SCALE:-0.2} CANARY_SECONDS=${REHEARSE_CANARY_SECONDS:-6} \
  bash scripts/rehearse/cutover.sh
printf '==> cutover rehearsal: %ss\n' "$((SECONDS - t))"
t=$SECONDS
PROPTEST_CASES=${PROPTEST_CASES:-500} bash scripts/rehearse/fuzz.sh
printf '==> fuzz: %ss\n' "$((SECONDS - t))"
t=$SECONDS
bash scripts/rehearse/capacity.sh --cpus 0.25 --levels 10 --per-stream 3 --require-held
printf '==> capacity probe: %ss\n' "$((SECONDS - t))"
t=$SECONDS
bash scripts/rehearse/soak.sh --chats 1000 --concurrency 32
printf '==> soak: %ss\n' "$((SECONDS - t))"
