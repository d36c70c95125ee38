#!/usr/bin/env bash
# CDK app: types, lint, unit tests, an offline `cdk synth` (no context, no AWS credentials) that
# bundles the hook and runs cdk-nag's AwsSolutions checks (any unacknowledged finding fails the
# synth), and cfn-lint on every synthesized template (errors and warnings both fail); then the
# construct library's packages and their two consumer apps (scripts/ci/package.sh).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# readelf for the bundled hook check; musl-gcc for the hook's C code (ring, aws-lc-sys).
apt_install binutils musl-tools
python_env
npm_ci "$ROOT/cdk"
cd "$ROOT/cdk"

step "tsc --noEmit"
npx tsc --noEmit
step "eslint"
npx eslint --max-warnings 0 .
step "node --test"
node --import tsx --test test/*.test.ts

# No credentials of any kind, so nothing can reach an account; the stack is environment-agnostic.
# The first synth bundles the hook Lambda for real, as `cdk deploy` does (bin/hook-from-source.ts
# runs `cargo build --release --target x86_64-unknown-linux-musl -p greenlight-hook` into the
# shared target directory; no cargo-lambda, no Docker), and the bundle is checked.
# The second variant has the same hook, so it skips bundling (GREENLIGHT_SKIP_BUNDLING=1).
offline_cdk() {
  env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
    CDK_DISABLE_CLI_TELEMETRY=true npx cdk "$@"
}
out=$ROOT/cdk/cdk.out
# The ECS engine's assembly stays for the ship stage (tests/ship/test_ecs_agreement.py).
ecs_out=$ROOT/cdk/cdk.out.ecs
https=$(mktemp -d)
trap 'rm -rf "$https"' EXIT
rm -rf "$out" "$ecs_out"
step "cdk synth: no context, hook built by cargo (cdk-nag AwsSolutions)"
offline_cdk synth --quiet --output "$out"
step "the bundled hook"
GREENLIGHT_CDK_OUT=$out node --import tsx --test test/synthesized/*.check.ts
step "cdk synth: HTTPS, Bedrock, VPC endpoints, alarm e-mail (cdk-nag AwsSolutions)"
GREENLIGHT_SKIP_BUNDLING=1 offline_cdk synth --quiet --output "$https" \
  -c connectionArn=arn:aws:codeconnections:eu-west-1:123456789012:connection/0123abcd-0123-4567-89ab-0123456789ab \
  -c repository=example-org/greenlight -c llmProvider=bedrock \
  -c llmModel=eu.anthropic.claude-3-haiku-20240307-v1:0 -c egress=vpc-endpoints \
  -c certificateArn=arn:aws:acm:eu-west-1:123456789012:certificate/0123abcd-0123-4567-89ab-0123456789ab \
  -c domainName=chat.example.com -c alarmEmail=ops@example.com -c cpuArchitecture=ARM64
step "cdk synth: the ECS deployment engine, canary traffic shift (cdk-nag AwsSolutions)"
GREENLIGHT_SKIP_BUNDLING=1 offline_cdk synth --quiet --output "$ecs_out" \
  -c connectionArn=arn:aws:codeconnections:eu-west-1:123456789012:connection/0123abcd-0123-4567-89ab-0123456789ab \
  -c repository=example-org/greenlight -c deploymentEngine=ecs -c ecsTrafficShift=CANARY
step "cfn-lint"
cfn-lint "$out"/*.template.json "$https"/*.template.json "$ecs_out"/*.template.json

bash "$ROOT/scripts/ci/package.sh"
