# shellcheck shell=bash
# Shared by the rehearsal scripts. Source it after scripts/lib.sh.
# PROFILE=release (default for the recorded runs) or PROFILE=debug (CI: reuses the test build).
PROFILE=${PROFILE:-release}
[[ $PROFILE == release || $PROFILE == debug ]] || die "PROFILE is release or debug, got '$PROFILE'"
# GREENLIGHT_TARGET=x86_64-unknown-linux-musl: run the greenlight the image ships (static musl,
# mimalloc) instead of the host build; fake-llm and the load tools stay host builds. Release only.
GREENLIGHT_TARGET=${GREENLIGHT_TARGET:-}
[[ -z $GREENLIGHT_TARGET || $PROFILE == release ]] || die "GREENLIGHT_TARGET needs PROFILE=release"

# rehearse_bins: builds greenlight, fake-llm and bench-load; sets BIN_DIR. Release: the shipped
# build of the binaries alone. Debug: the binaries exactly as the rust stage's `cargo test
# --workspace` builds them (same features), so CI compiles nothing again.
rehearse_bins() {
  step "cargo build ($PROFILE): greenlight, fake-llm, bench-load"
  if [ "$PROFILE" = debug ]; then
    cargo test --workspace --locked --no-run
  else
    cargo build --locked --release -p greenlight -p greenlight-fake-llm --bins
  fi
  BIN_DIR=$CARGO_TARGET_DIR/$PROFILE
  if [ -n "$GREENLIGHT_TARGET" ]; then
    rustup target list --installed | grep -qx "$GREENLIGHT_TARGET" || rustup target add "$GREENLIGHT_TARGET"
    [[ $GREENLIGHT_TARGET != *-musl ]] || apt_install musl-tools
    step "cargo build (release, $GREENLIGHT_TARGET): greenlight"
    cargo build --locked --release --target "$GREENLIGHT_TARGET" -p greenlight
    # One folder with the binaries by the names the scripts run.
    local mixed=$CARGO_TARGET_DIR/rehearse/bin-$GREENLIGHT_TARGET f
    mkdir -p "$mixed"
    for f in "$BIN_DIR"/*; do
      [ -f "$f" ] && [ -x "$f" ] && ln -sf "$f" "$mixed/"
    done
    ln -sf "$CARGO_TARGET_DIR/$GREENLIGHT_TARGET/release/greenlight" "$mixed/greenlight"
    BIN_DIR=$mixed
  fi
  export BIN_DIR
}

# shipped_templates: cdk/cdk.out, synthesized when missing or older than the app's sources (as
# scripts/ci/ship.sh does): the rehearsal reads the shipped timings from it.
shipped_templates() {
  if [ ! -f "$ROOT/cdk/cdk.out/manifest.json" ] ||
    [ -n "$(find "$ROOT/cdk/bin" "$ROOT/cdk/lib" "$ROOT/cdk/cdk.json" "$ROOT/cdk/package-lock.json" -newer "$ROOT/cdk/cdk.out/manifest.json" 2>/dev/null)" ]; then
    npm_ci "$ROOT/cdk"
    step "cdk synth (templates only)"
    (cd "$ROOT/cdk" && GREENLIGHT_SKIP_BUNDLING=1 npx --no-install cdk synth --quiet >/dev/null)
  fi
}

# Many streams at once: one descriptor each, on both sides of the proxy.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
