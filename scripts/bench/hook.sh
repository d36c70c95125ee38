#!/usr/bin/env bash
# The green-light hook's bundle size and init time (BENCHMARKS.md, "Hook Lambda").
# Builds the bootstrap exactly as the app's `cdk synth`/`cdk deploy` bundle it and as CI builds the
# package's prebuilt asset (cdk/bin/hook-from-source.ts HOOK_BUILD: a static musl release build
# into the shared target directory), zips it as a Lambda bundle, and times process start -> first
# poll of the Lambda Runtime API over 20 runs.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT"

python_env
apt_install musl-tools # ring and aws-lc-sys compile C for the musl target
target=x86_64-unknown-linux-musl
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
step "cargo build --locked --release --target $target -p greenlight-hook"
cargo build --locked --release --target "$target" -p greenlight-hook
install -m 0755 "$CARGO_TARGET_DIR/$target/release/greenlight-hook" "$out/bootstrap"
(cd "$out" && python -c 'import zipfile; z = zipfile.ZipFile("hook.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9); z.write("bootstrap"); z.close()')
printf 'bootstrap: %s bytes; zipped: %s bytes\n' "$(stat -c %s "$out/bootstrap")" "$(stat -c %s "$out/hook.zip")"
python "$ROOT/scripts/bench/hook_init.py" "$out/bootstrap" --runs 20
