#!/usr/bin/env bash
# The green-light hook's bundle size and init time (BENCHMARKS.md, "Hook Lambda").
# Builds the bootstrap exactly as `cdk synth`/`cdk deploy` bundle it (cargo-lambda-cdk's
# RustFunction runs this `cargo lambda build`, into the same shared target directory), zips it
# as a Lambda bundle, and times process start -> first poll of the Lambda Runtime API over 20 runs.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT/runtime/hook"

python_env # cargo-lambda (and zig, its linker)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
step "cargo lambda build --release --x86-64 --bin greenlight-hook"
cargo lambda build --release --x86-64 --bin greenlight-hook --lambda-dir "$out" --flatten greenlight-hook
(cd "$out" && python -c 'import zipfile; z = zipfile.ZipFile("hook.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9); z.write("bootstrap"); z.close()')
printf 'bootstrap: %s bytes; zipped: %s bytes\n' "$(stat -c %s "$out/bootstrap")" "$(stat -c %s "$out/hook.zip")"
python "$ROOT/scripts/bench/hook_init.py" "$out/bootstrap" --runs 20
