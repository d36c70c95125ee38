#!/usr/bin/env bash
# The blue/green cutover rehearsal (scripts/rehearse/cutover.py): real HAProxy as the ALB, real
# greenlight tasks of different versions, the real smoke check, the CDK app's shipped timings.
#
#   scripts/rehearse/cutover.sh                            # the recorded run: 200 clients, scale 1
#   CLIENTS=20 SCALE=0.2 PROFILE=debug scripts/rehearse/cutover.sh   # what CI runs
#
# SCALE multiplies every shipped duration (reported); CANARY_SECONDS overrides the canary interval
# (default: the shipped 5 minutes, times SCALE). Extra arguments go to cutover.py.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=scripts/rehearse/common.sh
source "$ROOT/scripts/rehearse/common.sh"
cd "$ROOT" || exit

apt_install haproxy
python_env
rehearse_bins
shipped_templates
args=(--bin-dir "$BIN_DIR" --cdk-out cdk/cdk.out --clients "${CLIENTS:-200}" --scale "${SCALE:-1}"
  --report "$CARGO_TARGET_DIR/rehearse/cutover.json")
[ -z "${CANARY_SECONDS:-}" ] || args+=(--canary-seconds "$CANARY_SECONDS")
step "cutover rehearsal"
python scripts/rehearse/cutover.py "${args[@]}" "$@"
