import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { CODEBUILD_ENV } from '../lib/names';
import { CONFIGURED, logicalId, only, resources, synth } from './helpers';

describe('GreenlightPipeline', () => {
  const { stack, template } = synth({ ...CONFIGURED, filePathsIncludes: 'runtime/**,Dockerfile' });

  it('has the Source, Build, Deploy and Release stages on a V2 pipeline', () => {
    const [, pipeline] = only(template, 'AWS::CodePipeline::Pipeline');
    const p = pipeline.Properties ?? {};
    assert.equal(p.PipelineType, 'V2');
    const stages = p.Stages as Array<{ Name: string; Actions: Array<{ ActionTypeId: { Provider: string }; Configuration?: Record<string, unknown> }> }>;
    assert.deepEqual(stages.map((s) => s.Name), ['Source', 'Build', 'Deploy', 'Release']);
    assert.deepEqual(stages.map((s) => s.Actions[0].ActionTypeId.Provider), ['CodeStarSourceConnection', 'CodeBuild', 'CodeDeployToECS', 'CodeBuild']);
    const source = stages[0].Actions[0].Configuration ?? {};
    assert.equal(source.FullRepositoryId, 'example-org/greenlight');
    assert.equal(source.BranchName, 'main');
    const deploy = stages[2].Actions[0].Configuration ?? {};
    assert.equal(deploy.TaskDefinitionTemplatePath, 'taskdef.json');
    assert.equal(deploy.AppSpecTemplatePath, 'appspec.yaml');
    assert.equal(deploy.Image1ContainerName, 'IMAGE1_NAME');
  });

  it('starts on a push to the branch, filtered by path', () => {
    template.hasResourceProperties('AWS::CodePipeline::Pipeline', {
      Triggers: [
        {
          ProviderType: 'CodeStarSourceConnection',
          GitConfiguration: {
            SourceActionName: 'Source',
            Push: [{ Branches: { Includes: ['main'] }, FilePaths: { Includes: ['runtime/**', 'Dockerfile'] } }],
          },
        },
      ],
    });
  });

  it('gives CodeBuild exactly the contract environment, privileged, with the root buildspec', () => {
    const [, project] = resources(template, 'AWS::CodeBuild::Project').find(([id]) => id === logicalId(stack, stack.pipeline.project))!;
    const env = (project.Properties?.Environment ?? {}) as { PrivilegedMode: boolean; EnvironmentVariables: Array<{ Name: string; Value: unknown; Type: string }> };
    assert.equal(env.PrivilegedMode, true);
    assert.deepEqual(env.EnvironmentVariables.map((v) => v.Name).sort(), [...CODEBUILD_ENV].sort());
    const value = (name: string) => env.EnvironmentVariables.find((v) => v.Name === name)?.Value;
    assert.equal(value('CONTAINER_NAME'), 'greenlight');
    assert.equal(value('CONTAINER_PORT'), '8080');
    assert.equal(value('TASK_FAMILY'), 'greenlight');
    assert.equal(value('DRAIN_SECONDS'), '25');
    assert.equal(value('STOP_TIMEOUT_SECONDS'), '35');
    assert.equal(value('OPENAI_API_KEY_SECRET_ARN'), '');
    assert.equal(value('CPU_ARCHITECTURE'), 'X86_64');
    assert.match(JSON.stringify(value('HOOK_FUNCTION_NAME')), /"Ref":"GreenlightDeploymentHook/);
    assert.equal((project.Properties?.Source as { BuildSpec: string }).BuildSpec, 'buildspec.yml');
  });

  it('lets CodeBuild push to, and look up tags in, its own repository only', () => {
    type Statement = { Action: string | string[]; Resource: unknown };
    type Policy = { Properties: { Roles?: unknown; PolicyDocument: { Statement: Statement[] } } };
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Policy[];
    const statements = policies
      .filter((p) => JSON.stringify(p.Properties.Roles ?? []).includes('Build'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement);
    const ecr = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('ecr:')));
    const describe = ecr.find((s) => [s.Action].flat().includes('ecr:DescribeImages'));
    assert.ok(describe, 'ecr:DescribeImages is granted (build.sh checks an immutable tag before pushing)');
    assert.ok(ecr.some((s) => [s.Action].flat().includes('ecr:PutImage')), 'ecr:PutImage is granted');
    for (const s of ecr) {
      const actions = [s.Action].flat();
      if (actions.includes('ecr:GetAuthorizationToken')) continue;
      assert.notEqual(s.Resource, '*', `${actions.join(',')} is scoped to the repository`);
      assert.match(JSON.stringify(s.Resource), /Repository/);
    }
  });

  it('keeps artifacts encrypted, SSL-only and access-logged', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'artifacts/' }),
      VersioningConfiguration: { Status: 'Enabled' },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });
});
