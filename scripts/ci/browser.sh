#!/usr/bin/env bash
# The chat page in headless Debian Chromium (npm playwright-core), against the real greenlight
# binary and the fake LLM upstream. Screenshots land in test-output/.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

apt_install chromium
npm_ci "$ROOT/tests/browser"
# The binaries as the rust stage built them (`cargo test --workspace`): the same features, so no
# rebuild (`cargo build -p greenlight` would unify features differently and recompile).
step "cargo test --no-run (greenlight, fake-llm as the rust stage built them)"
cargo test --workspace --locked --no-run
step "browser tests"
export GREENLIGHT_BIN=${GREENLIGHT_BIN:-$CARGO_TARGET_DIR/debug/greenlight}
export FAKE_LLM_BIN=${FAKE_LLM_BIN:-$CARGO_TARGET_DIR/debug/fake-llm}
cd "$ROOT/tests/browser"
node --test --test-concurrency=1 tests/
