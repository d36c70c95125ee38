// The constructs as a library: two services in one stack, users' grants on the exposed task
// role, and validation errors that name the construct.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, CfnParameter, Stack, aws_iam as iam, aws_kms as kms, aws_s3 as s3 } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { hookCodeFromSource } from '../bin/hook-from-source';
import { GreenlightDeployment, GreenlightPipeline, GreenlightService } from '../lib';
import { resources, statements } from './helpers';

const CONNECTION = 'arn:aws:codeconnections:eu-west-1:123456789012:connection/0123abcd-0123-4567-89ab-0123456789ab';

function newStack(): Stack {
  return new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Shop');
}

function addGreenlight(stack: Stack, id: string, props: ConstructorParameters<typeof GreenlightService>[2] = {}): GreenlightService {
  const service = new GreenlightService(stack, id, props);
  const deployment = new GreenlightDeployment(stack, `${id}Deployment`, { service, hookCode: hookCodeFromSource() });
  new GreenlightPipeline(stack, `${id}Pipeline`, {
    service,
    deployment,
    connectionArn: CONNECTION,
    repositoryOwner: 'example-org',
    repositoryName: id.toLowerCase(),
  });
  return service;
}

function distinct(values: unknown[]): boolean {
  const keys = values.map((v) => JSON.stringify(v));
  return new Set(keys).size === keys.length;
}

describe('two Greenlight services in one stack', () => {
  const stack = newStack();
  const chat = addGreenlight(stack, 'Chat');
  const support = addGreenlight(stack, 'Support');
  const template = Template.fromStack(stack);

  it('gives each its own task families and pull-through-cache prefix (the first keeps the defaults)', () => {
    assert.equal(chat.taskFamily, 'greenlight');
    assert.equal(support.taskFamily, 'greenlight-support');
    const families = resources(template, 'AWS::ECS::TaskDefinition').map(([, r]) => r.Properties?.Family);
    assert.deepEqual([...families].sort(), ['greenlight', 'greenlight-bootstrap', 'greenlight-support', 'greenlight-support-bootstrap']);
    const prefixes = resources(template, 'AWS::ECR::PullThroughCacheRule').map(([, r]) => r.Properties?.EcrRepositoryPrefix);
    assert.equal(prefixes.length, 2);
    assert.ok(distinct(prefixes), JSON.stringify(prefixes));
    for (const prefix of prefixes) assert.match(String(prefix), /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/);
  });

  it('names no log group, alarm, CodeDeploy application or pipeline twice', () => {
    const named = (type: string, key: string) =>
      resources(template, type).map(([, r]) => r.Properties?.[key]).filter((name) => name !== undefined);
    for (const [type, key] of [
      ['AWS::Logs::LogGroup', 'LogGroupName'],
      ['AWS::CloudWatch::Alarm', 'AlarmName'],
      ['AWS::CodeDeploy::Application', 'ApplicationName'],
      ['AWS::CodePipeline::Pipeline', 'Name'],
      ['AWS::ECS::Cluster', 'ClusterName'],
    ] as const) {
      assert.ok(distinct(named(type, key)), `${type} ${key}: ${JSON.stringify(named(type, key))}`);
    }
    assert.equal(resources(template, 'AWS::CloudWatch::Alarm').length, 2 * 8);
    assert.equal(resources(template, 'AWS::Logs::LogGroup').length >= 2 * 3, true);
  });

  it('rejects a task family or cache prefix one service already uses, naming both', () => {
    const s = newStack();
    new GreenlightService(s, 'One', { taskFamily: 'shared' });
    assert.throws(() => new GreenlightService(s, 'Two', { taskFamily: 'shared' }), /Shop\/Two: taskFamily 'shared' is already used by Shop\/One/);
    const p = newStack();
    new GreenlightService(p, 'One', { bootstrapCachePrefix: 'same-prefix' });
    assert.throws(() => new GreenlightService(p, 'Two', { bootstrapCachePrefix: 'same-prefix' }), /Shop\/Two: bootstrapCachePrefix 'same-prefix' is already used by Shop\/One/);
  });
});

describe('the task role belongs to the user', () => {
  it('keeps a user\'s grants (wildcards included) as written, and synth succeeds', () => {
    const stack = newStack();
    const service = addGreenlight(stack, 'Chat');
    const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
    const bucket = new s3.Bucket(stack, 'Data');
    key.grantEncryptDecrypt(service.taskRole);
    bucket.grantRead(service.taskRole);
    service.taskRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['dynamodb:Get*'], resources: ['*'] }));
    const template = Template.fromStack(stack);
    const mine = statements(template).filter((s) => s.where.startsWith('ChatTaskRole'));
    const actions = mine.flatMap((s) => s.Action);
    for (const action of ['kms:ReEncrypt*', 'kms:GenerateDataKey*', 's3:GetObject*', 's3:List*', 'dynamodb:Get*']) {
      assert.ok(actions.includes(action), `${action} in ${actions.join(' ')}`);
    }
    // The constructs' own policies are still made explicit.
    const own = statements(template).filter((s) => s.where.startsWith('ChatPipeline'));
    assert.ok(own.length > 0);
    for (const s of own) for (const action of s.Action) if (s.Effect === 'Allow') assert.ok(!action.includes('*'), `${s.where}: ${action}`);
  });
});

describe('validation', () => {
  it('names the construct path and the property', () => {
    assert.throws(() => new GreenlightService(newStack(), 'Chat', { minCapacity: 0 }), /^Error: Shop\/Chat: minCapacity: must be an integer of at least 1, got 0$/);
    assert.throws(() => new GreenlightService(newStack(), 'Chat', { taskFamily: 'no spaces' }), /Shop\/Chat: taskFamily: 'no spaces'/);
    assert.throws(() => new GreenlightService(newStack(), 'Chat', { testListenerAllowedCidrs: ['::/0'] }), /Shop\/Chat: testListenerAllowedCidrs: '::\/0'/);
    assert.throws(() => new GreenlightService(newStack(), 'Chat', { bootstrapCachePrefix: 'UPPER' }), /Shop\/Chat: bootstrapCachePrefix: 'UPPER'/);
  });

  it('skips values that are tokens (resolved at deploy time)', () => {
    const stack = newStack();
    const min = new CfnParameter(stack, 'Min', { type: 'Number', default: 2 }).valueAsNumber;
    const family = new CfnParameter(stack, 'Family', { default: 'greenlight' }).valueAsString;
    assert.doesNotThrow(() => new GreenlightService(stack, 'Chat', { minCapacity: min, maxCapacity: 6, taskFamily: family }));
  });
});
