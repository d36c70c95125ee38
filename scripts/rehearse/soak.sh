#!/usr/bin/env bash
# Soak (scripts/rehearse/soak.py): 100,000 chats of mixed outcomes against one greenlight; its RSS
# and open file descriptors must return to their idle level.
#
#   scripts/rehearse/soak.sh --pool-wait-seconds 190        # the recorded run: 100,000 chats
#   PROFILE=debug scripts/rehearse/soak.sh --chats 1000 --concurrency 32   # what CI runs
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=scripts/rehearse/common.sh
source "$ROOT/scripts/rehearse/common.sh"
cd "$ROOT" || exit

python_env
rehearse_bins
step "soak"
python scripts/rehearse/soak.py --bin-dir "$BIN_DIR" --report "$CARGO_TARGET_DIR/rehearse/soak.json" "$@"
