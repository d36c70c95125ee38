#!/usr/bin/env bash
# The green-light hook and the smoke checks against real parts: moto (started by the tests
# themselves, tests/moto/server.py) as the AWS endpoint, the real greenlight and fake-llm
# binaries as the green side, and the bootstrap under `cargo lambda watch` + `cargo lambda invoke`.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

python_env # moto[server] and cargo-lambda (tests/requirements.txt)
step "cargo build (greenlight, fake-llm, greenlight-hook)"
cargo build --locked -p greenlight -p greenlight-fake-llm -p greenlight-hook
export GREENLIGHT_BIN=${GREENLIGHT_BIN:-$CARGO_TARGET_DIR/debug/greenlight}
export FAKE_LLM_BIN=${FAKE_LLM_BIN:-$CARGO_TARGET_DIR/debug/fake-llm}
step "hook and smoke tests (including the moto, greenlight and cargo-lambda ones)"
cargo test --locked -p greenlight-hook -p greenlight-smoke -- --include-ignored
