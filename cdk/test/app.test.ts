import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { synth } from './helpers';

describe('the app with no context', () => {
  it('synthesizes and warns about what is still to set', () => {
    const { stack } = synth({});
    Annotations.fromStack(stack).hasWarning('/Greenlight', Match.stringLikeRegexp('connectionArn.*repository'));
  });

  it('names the stack outputs the ship files and the walkthrough use', () => {
    const { template } = synth({});
    const outputs = Object.keys(template.toJSON().Outputs as Record<string, unknown>);
    for (const name of ['Url', 'TestListenerUrl', 'RepositoryUri', 'PipelineName', 'HookFunctionName', 'TaskFamily', 'TaskRoleArn', 'TaskExecutionRoleArn', 'LogGroupName', 'DeploymentGroupName']) {
      assert.ok(outputs.includes(name), `output ${name}`);
    }
  });
});
