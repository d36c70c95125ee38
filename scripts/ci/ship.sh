#!/usr/bin/env bash
# Ship: the Dockerfile linted, the ship files checked against the CDK app, and the image proven.
# Builds the static binary and the image with scripts/ship/build.sh (what CodeBuild runs; buildah
# here, since no Docker engine runs on these machines), then inspects the image and runs it with
# podman: /health, /version, an offline chat answer, the health check, SIGTERM (tests/ship).
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT" || exit

apt_install buildah podman runc conmon musl-tools fuse-overlayfs uidmap slirp4netns
python_env

step "hadolint Dockerfile"
hadolint Dockerfile
step "shellcheck"
shellcheck -x scripts/ship/build.sh scripts/ci/ship.sh

# The agreement test renders from the CDK app's synthesized templates (the cdk stage leaves them).
# Synthesize again when it is missing or older than the app's sources (a run of this stage alone).
if [ -f cdk/package.json ] && { [ ! -f cdk/cdk.out/manifest.json ] ||
  [ -n "$(find cdk/bin cdk/lib cdk/cdk.json cdk/package-lock.json -newer cdk/cdk.out/manifest.json 2>/dev/null)" ]; }; then
  npm_ci "$ROOT/cdk"
  step "cdk synth"
  # Templates only: the hook Lambda's bundling (cargo lambda) is not what is compared here.
  (cd cdk && GREENLIGHT_SKIP_BUNDLING=1 npx --no-install cdk synth --quiet >/dev/null)
fi
# The ECS engine's assembly (tests/ship/test_ecs_agreement.py), as scripts/ci/cdk.sh leaves it.
if [ -f cdk/package.json ] && { [ ! -f cdk/cdk.out.ecs/manifest.json ] ||
  [ -n "$(find cdk/bin cdk/lib cdk/cdk.json cdk/package-lock.json -newer cdk/cdk.out.ecs/manifest.json 2>/dev/null)" ]; }; then
  npm_ci "$ROOT/cdk"
  step "cdk synth (ECS engine)"
  (cd cdk && GREENLIGHT_SKIP_BUNDLING=1 npx --no-install cdk synth --quiet --output cdk.out.ecs \
    -c connectionArn=arn:aws:codeconnections:eu-west-1:123456789012:connection/0123abcd-0123-4567-89ab-0123456789ab \
    -c repository=example-org/greenlight -c deploymentEngine=ecs -c ecsTrafficShift=CANARY >/dev/null)
fi

# Container storage of its own: nothing shared with other users of buildah/podman on the machine.
store=/var/tmp/greenlight-ship
mkdir -p "$store"
cat >"$store/storage.conf" <<CONF
[storage]
driver = "${SHIP_STORAGE_DRIVER:-overlay}"
graphroot = "$store/root"
runroot = "$store/run"
CONF
export CONTAINERS_STORAGE_CONF=$store/storage.conf

# The contract's example deployment values: build.sh renders taskdef.json and appspec.yaml from them.
set -a
# shellcheck source=scripts/ship/example.env
source scripts/ship/example.env
set +a
out=$CARGO_TARGET_DIR/ship
# The rust stage has run the runtime's tests already.
bash scripts/ship/build.sh --skip-tests --builder buildah --out "$out"
image=$(sed -n 's/^IMAGE=//p' "$out/image.env")
trap 'podman rmi --force "$image" >/dev/null 2>&1 || true' EXIT

step "image $image: $(podman image inspect --format '{{.Size}}' "$image") bytes"
step "pytest tests/ship"
GREENLIGHT_IMAGE=$image GREENLIGHT_IMAGE_REVISION=$(git rev-parse HEAD) \
  python -m pytest -q -p no:cacheprovider tests/ship


# The ARM CodeBuild path (buildspec.yml on Amazon Linux: no apt, no musl cross compiler) builds
# with cargo-zigbuild at the versions tests/requirements.txt pins. Prove here that it links a static
# aarch64 binary, and that the binary serves: qemu-user runs it, and the real smoke checks (the
# hook's) pass against it. A debug build: the release profile (LTO, one codegen unit) would triple
# the time and exercise no other part of the toolchain; the build scripts and proc macros are the
# rust stage's, so only the target's own code compiles.
step "cargo zigbuild --target aarch64-unknown-linux-musl -p greenlight (the ARM CodeBuild path)"
apt_install qemu-user
rustup target list --installed | grep -qx aarch64-unknown-linux-musl || rustup target add aarch64-unknown-linux-musl
t=$SECONDS
cargo zigbuild --locked --target aarch64-unknown-linux-musl -p greenlight
arm=$CARGO_TARGET_DIR/aarch64-unknown-linux-musl/debug/greenlight
readelf -hW "$arm" | grep -q 'Machine:.*AArch64' || die "$arm is not an aarch64 binary"
if readelf -lW "$arm" | grep -q 'program interpreter'; then die "$arm is dynamically linked"; fi
printf 'aarch64 static binary built in %ss\n' "$((SECONDS - t))"

step "the aarch64 binary under qemu-aarch64: greenlight smoke"
arm_log=$(mktemp)
arm_port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A clean environment: this script exported example.env's deployment values, which are not a
# server configuration (an empty LLM_MODEL is refused at start).
env -i PATH="$PATH" HOST=127.0.0.1 PORT="$arm_port" IMAGE_URI=example.invalid/greenlight:arm64-check \
  qemu-aarch64 "$arm" serve >"$arm_log" 2>&1 &
arm_pid=$!
trap 'kill "$arm_pid" 2>/dev/null || true; podman rmi --force "$image" >/dev/null 2>&1 || true' EXIT
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$arm_port/health" >/dev/null 2>&1 && break
  kill -0 "$arm_pid" 2>/dev/null || { cat "$arm_log" >&2; die "the aarch64 build exited at start"; }
  sleep 0.2
done
# Emulated, so allow generous budgets: this checks the binary's behaviour, not its speed.
if ! "$CARGO_TARGET_DIR/debug/greenlight" smoke --url "http://127.0.0.1:$arm_port" \
  --expect-image example.invalid/greenlight:arm64-check --rounds 2 \
  --ttft-budget-ms 20000 --total-budget-ms 60000 --request-timeout-ms 20000 --deadline-seconds 120; then
  cat "$arm_log" >&2
  die "the aarch64 build failed the smoke checks"
fi
kill -TERM "$arm_pid"
wait "$arm_pid" || die "the aarch64 build did not exit 0 on SIGTERM (log: $arm_log)"
rm -f "$arm_log"
