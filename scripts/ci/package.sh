#!/usr/bin/env bash
# The construct library as other teams get it: the hook built from source into the package's
# prebuilt asset, the jsii build, the npm tarball and the Python wheel (jsii-pacmak); then a fresh
# TypeScript CDK app and a fresh Python CDK app (aws-cdk-lib from PyPI), both outside the
# repository, install the built packages and synthesize the same stack with the three constructs;
# cdk-nag's AwsSolutions checks run in both synths and cfn-lint on both templates.
# Run by scripts/ci/cdk.sh after its checks; runnable alone (`bash scripts/ci/package.sh`).
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
apt_install musl-tools binutils
python_env
npm_ci "$ROOT/cdk"
cd "$ROOT/cdk" || exit
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=1
timed() { local t=$SECONDS; "$@"; printf '    (%ss)\n' "$((SECONDS - t))"; }

# The same command bin/hook-from-source.ts runs for `cdk synth` (a no-op after that synth).
step "the prebuilt hook: cargo build --release --target x86_64-unknown-linux-musl -p greenlight-hook"
rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
timed cargo build --locked --release --target x86_64-unknown-linux-musl -p greenlight-hook
install -D -m 0755 "$CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/greenlight-hook" assets/hook/bootstrap

step "jsii"
rm -rf build dist .jsii
# JSII6 asks for a devDependency on the lowest aws-cdk-lib the peer range allows (2.275.0): the
# repository pins 2.276.0, and the Python consumer below runs on 2.275.0 from PyPI instead.
timed npx --no-install jsii --generate-tsconfig tsconfig.jsii.json --fail-on-warnings --silence-warnings JSII6
step "jsii-pacmak: npm tarball and Python wheel"
timed npx --no-install jsii-pacmak --targets js python
tarball=$(ls "$PWD"/dist/js/greenlight-cdk@*.jsii.tgz)
wheel=$(ls "$PWD"/dist/python/greenlight_cdk-*.whl)
tar -tzf "$tarball" | grep -x 'package/assets/hook/bootstrap' >/dev/null || die "$tarball has no assets/hook/bootstrap"
printf '    %s (%s bytes)\n    %s (%s bytes)\n' "$tarball" "$(stat -c %s "$tarball")" "$wheel" "$(stat -c %s "$wheel")"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
offline_env=(env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true)
versions=$(node -p "const p=require('./package.json').devDependencies; ['aws-cdk-lib','constructs','cdk-nag','typescript','tsx','@types/node'].map(n=>n+'@'+p[n]).join(' ')")

step "a fresh TypeScript CDK app installs $(basename "$tarball")"
mkdir "$work/ts"
cp "$ROOT/tests/consumers/typescript/app.ts" "$work/ts/"
# $versions: one word per package, split on purpose.
timed bash -c "cd '$work/ts' && npm init -y >/dev/null && npm install --prefer-offline --no-audit --no-fund --loglevel=error $versions '$tarball'"
timed "${offline_env[@]}" CDK_OUTDIR="$work/ts/cdk.out" bash -c "cd '$work/ts' && npx --no-install tsx app.ts"

step "a fresh Python CDK app installs $(basename "$wheel") (aws-cdk-lib from PyPI)"
python3 -m venv "$work/py/venv"
timed "$work/py/venv/bin/pip" install --quiet -r "$ROOT/tests/consumers/python/requirements.txt" "$wheel"
timed "${offline_env[@]}" CDK_OUTDIR="$work/py/cdk.out" "$work/py/venv/bin/python" "$ROOT/tests/consumers/python/app.py"

step "the two templates agree, and pass cfn-lint"
python3 - "$work/ts/cdk.out/ConsumerStack.template.json" "$work/py/cdk.out/ConsumerStack.template.json" <<'PY'
import json, sys
ts, py = (json.load(open(p)) for p in sys.argv[1:])
types = lambda t: sorted((k, v["Type"]) for k, v in t["Resources"].items())
assert types(ts) == types(py), "the TypeScript and Python apps synthesized different resources"
kinds = {v["Type"] for v in ts["Resources"].values()}
for kind in ("AWS::ECS::Service", "AWS::CodeDeploy::DeploymentGroup", "AWS::CodePipeline::Pipeline", "AWS::Lambda::Function"):
    assert kind in kinds, kind
print(f"    {len(ts['Resources'])} resources, the same logical ids and types in both")
PY
cfn-lint "$work/ts/cdk.out/ConsumerStack.template.json" "$work/py/cdk.out/ConsumerStack.template.json"
