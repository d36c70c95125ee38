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

