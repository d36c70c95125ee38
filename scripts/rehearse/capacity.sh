#!/usr/bin/env bash
# Capacity of one task (scripts/rehearse/capacity.py): greenlight in a cgroup limited like the
# Fargate task (0.25 vCPU / 512 MiB by default, then 1 vCPU), ramped until TTFT p99 > 1 s or an
# error. Needs root (cgroups). Record the results with the machine's load in BENCHMARKS.md.
#
#   scripts/rehearse/capacity.sh                           # the recorded run (release build)
#   PROFILE=debug scripts/rehearse/capacity.sh --cpus 0.25 --levels 10 --require-held   # CI: one step
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=scripts/rehearse/common.sh
source "$ROOT/scripts/rehearse/common.sh"
cd "$ROOT" || exit

python_env
rehearse_bins
step "capacity probe"
python scripts/rehearse/capacity.py --bin-dir "$BIN_DIR" --report "$CARGO_TARGET_DIR/rehearse/capacity.json" "$@"
