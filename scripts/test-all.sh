#!/usr/bin/env bash
# Runs every test of the project: `scripts/test-all.sh` (all stages) or `scripts/test-all.sh rust cdk`.
# Installs what the tests need itself (rustup targets, apt, pip, npm), so it works on a fresh clone.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

all_stages=(setup rust python hook browser cdk ship reliability)
stages=("${@:-${all_stages[@]}}")
[ "$#" -eq 0 ] || stages=(setup "$@")

start=$SECONDS
for stage in "${stages[@]}"; do
  t=$SECONDS
  step "stage: $stage"
  bash "$ROOT/scripts/ci/$stage.sh"
  printf '==> stage %s passed in %ss\n' "$stage" "$((SECONDS - t))"
done
printf '\n==> all stages passed (%s) in %ss\n' "${stages[*]}" "$((SECONDS - start))"
