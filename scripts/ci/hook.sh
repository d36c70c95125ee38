#!/usr/bin/env bash
# The green-light hook and the smoke checks against real parts: moto (started by the tests
# themselves, tests/moto/server.py) as the AWS endpoint, the real greenlight and fake-llm
# binaries as the green side, and the bootstrap under `cargo lambda watch` + `cargo lambda invoke`.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

python_env # moto[server] and cargo-lambda (tests/requirements.txt)
# Built as the rust stage built them (`cargo test --workspace`): the same feature unification, so
# nothing is compiled twice. `cargo build -p …` would resolve features for fewer packages and
# rebuild every shared dependency whose features differ.
step "cargo test --no-run (the rust stage's build: greenlight, fake-llm, greenlight-hook)"
cargo test --workspace --locked --no-run
export GREENLIGHT_BIN=${GREENLIGHT_BIN:-$CARGO_TARGET_DIR/debug/greenlight}
export FAKE_LLM_BIN=${FAKE_LLM_BIN:-$CARGO_TARGET_DIR/debug/fake-llm}
# The ignored tests are exactly the ones that need these parts (moto, the binaries, cargo lambda):
# the hook's and smoke's; the rust stage ran the rest.
step "hook and smoke tests that need moto, greenlight, fake-llm and cargo lambda (the ignored ones)"
cargo test --workspace --locked -- --ignored
