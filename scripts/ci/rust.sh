#!/usr/bin/env bash
# Rust: formatting, lints, and every crate's tests.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo test"
cargo test --workspace --locked
