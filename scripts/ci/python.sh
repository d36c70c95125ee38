#!/usr/bin/env bash
# The official `openai` Python client against the real greenlight binary's /v1 API, and its
# metrics (EMF and Prometheus) against a known sequence of chats with fake-llm as the upstream.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

python_env
# The binaries as the rust stage built them (`cargo test --workspace`): the same features, so no
# rebuild (`cargo build -p greenlight` would unify features differently and recompile).
step "cargo test --no-run (greenlight, fake-llm as the rust stage built them)"
cargo test --workspace --locked --no-run
step "pytest tests/python"
export GREENLIGHT_BIN=${GREENLIGHT_BIN:-$CARGO_TARGET_DIR/debug/greenlight}
export FAKE_LLM_BIN=${FAKE_LLM_BIN:-$CARGO_TARGET_DIR/debug/fake-llm}
pytest tests/python -q
