#!/usr/bin/env bash
# The official `openai` Python client against the real greenlight binary's /v1 API.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

python_env
step "cargo build -p greenlight"
cargo build --locked -p greenlight
step "pytest tests/python"
export GREENLIGHT_BIN=${GREENLIGHT_BIN:-$CARGO_TARGET_DIR/debug/greenlight}
pytest tests/python -q
