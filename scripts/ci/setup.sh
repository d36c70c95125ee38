#!/usr/bin/env bash
# Installs the tools every later stage needs. Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

rustup show active-toolchain >/dev/null # installs the toolchain pinned in rust-toolchain.toml
python_env
