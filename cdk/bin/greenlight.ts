#!/usr/bin/env node
// The Greenlight app: one environment-agnostic stack, configured from cdk.json context, checked
// by cdk-nag's AWS Solutions rules on every synth.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { GreenlightStack } from '../lib';
import { hookCodeFromSource, missingHookToolchain } from './hook-from-source';

// GREENLIGHT_SKIP_BUNDLING=1 synthesizes without building the hook Lambda (cargo): for
// checks of the template alone (unit tests, cdk-nag, cfn-lint). `cdk deploy` must bundle.
const skipBundling = process.env.GREENLIGHT_SKIP_BUNDLING === '1';
const missing = skipBundling ? undefined : missingHookToolchain();
if (missing) {
  // One line naming the fix, not a bundling stack trace (and never a Docker fallback).
  process.stderr.write(`error: ${missing}\n`);
  process.exit(1);
}
const app = new App(skipBundling ? { postCliContext: { 'aws:cdk:bundling-stacks': [] } } : {});
const stackName: unknown = app.node.tryGetContext('stackName');
new GreenlightStack(app, typeof stackName === 'string' && stackName ? stackName : 'Greenlight', {
  settings: GreenlightStack.settingsFromContext(app),
  // The hook from this repository's source (cargo); library users get the prebuilt one.
  hookCode: hookCodeFromSource(),
  // Environment-agnostic unless the CLI knows the account and region (credentials configured).
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: 'Greenlight: LLM chatbot on ECS Fargate with CodeDeploy blue/green and a git-push pipeline',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
