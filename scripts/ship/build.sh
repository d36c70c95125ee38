#!/usr/bin/env bash
# Builds what the pipeline deploys: the runtime's tests, the static `greenlight` binary, the image,
# and the deploy artifacts (imageDetail.json, taskdef.json, appspec.yaml). CodeBuild runs it
# (buildspec.yml), and so does CI (scripts/ci/ship.sh), so both take the same steps.
#
#   scripts/ship/build.sh [--skip-tests] [--push] [--builder docker|buildah] [--out DIR]
#                         [--arch x86_64|aarch64]
#
# Reads the CodeBuild environment of docs/contract.md ("Deployment names"); outside CodeBuild,
# `set -a; source scripts/ship/example.env; set +a` first. The image is tagged with the commit
# (CODEBUILD_RESOLVED_SOURCE_VERSION, else `git rev-parse HEAD`): an immutable tag, never `latest`.
# --push (CodeBuild) pushes it to ECR_REPOSITORY_URI; the ECR login is the caller's job.
# Without --push nothing leaves the machine.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$ROOT" || exit

usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

run_tests=1 push=0 builder="" out="$ROOT/dist" arch=$(uname -m)
while (($#)); do
  case $1 in
    --skip-tests) run_tests=0 ;;
    --push) push=1 ;;
    --builder) builder=${2:?--builder needs docker or buildah}; shift ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    --arch) arch=${2:?--arch needs x86_64 or aarch64}; shift ;;
    -h | --help) usage 0 ;;
    *) printf 'unknown argument: %s\n\n' "$1" >&2; usage 2 ;;
  esac
  shift
done

case $arch in
  x86_64 | amd64) rust_target=x86_64-unknown-linux-musl platform=linux/amd64 ecs_arch=X86_64 ;;
  aarch64 | arm64) rust_target=aarch64-unknown-linux-musl platform=linux/arm64 ecs_arch=ARM64 ;;
  *) die "--arch must be x86_64 or aarch64, got '$arch'" ;;
esac
if [ -n "${CPU_ARCHITECTURE:-}" ] && [ "$CPU_ARCHITECTURE" != "$ecs_arch" ]; then
  die "CPU_ARCHITECTURE=$CPU_ARCHITECTURE but this build makes a $ecs_arch image (--arch $arch)"
fi

if [ -z "$builder" ]; then
  # CodeBuild has a Docker engine; CI and dev machines here have only daemonless buildah.
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then builder=docker
  elif command -v buildah >/dev/null; then builder=buildah
  else die "neither a running Docker engine nor buildah found (or pass --builder)"
  fi
fi
case $builder in docker | buildah) ;; *) die "--builder must be docker or buildah, got '$builder'" ;; esac

commit=${CODEBUILD_RESOLVED_SOURCE_VERSION:-}
if [ -z "$commit" ]; then
  commit=$(git rev-parse HEAD 2>/dev/null) || die "no CODEBUILD_RESOLVED_SOURCE_VERSION and no git commit"
  # A local build of uncommitted changes must never pass for the commit itself.
  git diff --quiet HEAD 2>/dev/null || commit="$commit-dirty"
fi
[[ $commit =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "commit '$commit' is not a valid image tag"
repository=${ECR_REPOSITORY_URI:-localhost/greenlight}
image="$repository:$commit"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1)
((push == 0)) || [ -n "${ECR_REPOSITORY_URI:-}" ] || die "--push needs ECR_REPOSITORY_URI"

if ((run_tests)); then
  step "cargo test (runtime)"
  cargo test --workspace --locked
fi

# GREENLIGHT_CARGO_BUILD=zigbuild: cargo-zigbuild links with zig (its libc is musl), for hosts
# without a musl C toolchain such as ARM CodeBuild's Amazon Linux (see buildspec.yml).
cargo_build=${GREENLIGHT_CARGO_BUILD:-build}
case $cargo_build in build | zigbuild) ;; *) die "GREENLIGHT_CARGO_BUILD must be build or zigbuild, got '$cargo_build'" ;; esac
step "cargo $cargo_build --release --target $rust_target -p greenlight"
rustup target list --installed | grep -qx "$rust_target" || rustup target add "$rust_target"
# GIT_COMMIT at build time: the binary's fallback for /version when the runtime sets none.
GIT_COMMIT=$commit cargo "$cargo_build" --locked --release --target "$rust_target" -p greenlight
binary="$CARGO_TARGET_DIR/$rust_target/release/greenlight"
[ -x "$binary" ] || die "cargo did not produce $binary"
# An empty base image has no dynamic loader: refuse a binary that asks for one.
if command -v readelf >/dev/null && readelf -lW "$binary" | grep -q 'program interpreter'; then
  die "$binary is dynamically linked; the image needs a static (musl) binary"
fi

step "build image $image ($builder, $platform)"
# A context of its own: only the binary goes to the builder, never the gigabytes of target/.
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$binary" "$context/greenlight"
build_args=(--build-arg BINARY=greenlight --build-arg "REVISION=$commit" --build-arg "VERSION=$version"
  -f "$ROOT/Dockerfile" -t "$image")
host_platform=linux/$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')
[ "$platform" = "$host_platform" ] || build_args+=(--platform "$platform")
if [ "$builder" = docker ]; then
  docker build "${build_args[@]}" "$context"
  size=$(docker image inspect --format '{{.Size}}' "$image")
else
  # chroot isolation: no user namespaces or nested runtime needed, so it works inside CI sandboxes.
  # docker format: OCI image configs cannot carry the HEALTHCHECK.
  buildah bud --isolation chroot --format docker "${build_args[@]}" "$context"
  size=$(buildah images --noheading --format '{{.Size}}' "$image")
fi
printf 'image %s: %s\n' "$image" "$size"

if ((push)); then
  registry=${repository%%/*} name=${repository#*/}
  # Tags are immutable in ECR: a retried build of the same commit reuses the image already pushed.
  if command -v aws >/dev/null && aws ecr describe-images --repository-name "$name" \
    --image-ids "imageTag=$commit" >/dev/null 2>&1; then
    step "$image already in $registry: not pushing again"
  else
    step "push $image"
    if [ "$builder" = docker ]; then docker push "$image"; else buildah push "$image" "docker://$image"; fi
  fi
fi

step "deploy artifacts in ${out#"$ROOT"/}"
mkdir -p "$out"
rm -f "$out/imageDetail.json" "$out/taskdef.json" "$out/appspec.yaml"
python3 -c 'import json, sys; json.dump({"ImageURI": sys.argv[1]}, open(sys.argv[2], "w"))' \
  "$image" "$out/imageDetail.json"
GIT_COMMIT=$commit IMAGE_URI=$image python3 "$ROOT/scripts/ship/render.py" --out "$out"
printf 'IMAGE=%s\n' "$image" >"$out/image.env"
