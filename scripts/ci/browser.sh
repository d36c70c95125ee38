#!/usr/bin/env bash
# The chat page in headless Debian Chromium (npm playwright-core), against the real greenlight
# binary and the fake LLM upstream. Screenshots land in test-output/.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

apt_install chromium
npm_ci "$ROOT/tests/browser"
step "cargo build (greenlight, fake-llm)"
cargo build --locked -p greenlight -p greenlight-fake-llm
step "browser tests"
export GREENLIGHT_BIN=${GREENLIGHT_BIN:-$CARGO_TARGET_DIR/debug/greenlight}
export FAKE_LLM_BIN=${FAKE_LLM_BIN:-$CARGO_TARGET_DIR/debug/fake-llm}
cd "$ROOT/tests/browser"
node --test --test-concurrency=1 tests/
