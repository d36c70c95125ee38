#!/usr/bin/env bash
# The green-light hook's bundle size and init time (BENCHMARKS.md, "Hook Lambda").
# Builds the release bootstrap for x86_64-unknown-linux-musl (a static binary: runs on
# provided.al2023 whatever its glibc), zips it as `bootstrap` like a Lambda bundle, and times
# process start -> first poll of the Lambda Runtime API over 20 runs.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

python_env
target=x86_64-unknown-linux-musl
step "cargo build --release --target $target -p greenlight-hook"
cargo build --locked --release --target "$target" -p greenlight-hook
bin=$CARGO_TARGET_DIR/$target/release/greenlight-hook
out=$(mktemp -d)
cp "$bin" "$out/bootstrap"
(cd "$out" && python -c 'import zipfile; z = zipfile.ZipFile("hook.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9); z.write("bootstrap"); z.close()')
printf 'bootstrap: %s bytes; zipped: %s bytes\n' "$(stat -c %s "$out/bootstrap")" "$(stat -c %s "$out/hook.zip")"
python scripts/bench/hook_init.py "$out/bootstrap" --runs 20
rm -rf "$out"
