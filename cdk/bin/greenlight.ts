#!/usr/bin/env node
// The Greenlight app: one environment-agnostic stack, configured from cdk.json context, checked
// by cdk-nag's AWS Solutions rules on every synth.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { GreenlightStack, settingsFromContext } from '../lib';

// GREENLIGHT_SKIP_BUNDLING=1 synthesizes without building the hook Lambda (cargo lambda): for
// checks of the template alone (unit tests, cdk-nag, cfn-lint). `cdk deploy` must bundle.
const skipBundling = process.env.GREENLIGHT_SKIP_BUNDLING === '1';
const app = new App(skipBundling ? { postCliContext: { 'aws:cdk:bundling-stacks': [] } } : {});
const stackName: unknown = app.node.tryGetContext('stackName');
new GreenlightStack(app, typeof stackName === 'string' && stackName ? stackName : 'Greenlight', {
  settings: settingsFromContext(app),
  // Environment-agnostic unless the CLI knows the account and region (credentials configured).
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: 'Greenlight: LLM chatbot on ECS Fargate with CodeDeploy blue/green and a git-push pipeline',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
