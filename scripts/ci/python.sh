#!/usr/bin/env bash
# The official `openai` Python client against the real greenlight binary's /v1 API, and its
# metrics (EMF and Prometheus) against a known sequence of chats with fake-llm as the upstream.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

python_env
step "cargo build (greenlight, fake-llm)"
cargo build --locked -p greenlight -p greenlight-fake-llm
step "pytest tests/python"
export GREENLIGHT_BIN=${GREENLIGHT_BIN:-$CARGO_TARGET_DIR/debug/greenlight}
export FAKE_LLM_BIN=${FAKE_LLM_BIN:-$CARGO_TARGET_DIR/debug/fake-llm}
pytest tests/python -q
