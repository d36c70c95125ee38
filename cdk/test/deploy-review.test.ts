// The deploy-review fixes: each assertion fails if the fix is undone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { GreenlightService } from '../lib';
import { DEPLOYED_TAG_PREFIX } from '../lib/names';
import { expiredBy, type Image } from './ecr-lifecycle';
import { CONFIGURED, only, resources, statements, synth } from './helpers';

const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/0123abcd-0123-4567-89ab-0123456789ab';

describe('deploy-review fixes', () => {
  const { stack, template } = synth(CONFIGURED);

  it('grants codeconnections:UseConnection next to codestar-connections:UseConnection to the source action and the build', () => {
    const connection = CONFIGURED.connectionArn;
    const use = statements(template).filter((s) => s.Resource.includes(connection));
    const rolesWith = (action: string) => use.filter((s) => s.Action.includes(action)).map((s) => s.where.replace(/DefaultPolicy.*/, '')).sort();
    const source = 'GreenlightPipelineSourceCodePipelineActionRole';
    const build = 'GreenlightPipelineBuildRole';
    assert.deepEqual(rolesWith('codestar-connections:UseConnection'), [build, source]);
    assert.deepEqual(rolesWith('codeconnections:UseConnection'), [build, source]);
  });

  it('keeps the CodeBuild cache in an unversioned bucket, apart from the versioned artifacts', () => {
    const build = resources(template, 'AWS::CodeBuild::Project').find(([id]) => id.startsWith('GreenlightPipelineBuild'))!;
    const cache = build[1].Properties?.Cache as { Type: string; Location: unknown };
    assert.equal(cache.Type, 'S3');
    const bucketId = JSON.stringify(cache.Location).match(/"Ref":"([^"]+)"/)?.[1];
    assert.ok(bucketId, JSON.stringify(cache.Location));
    const bucket = resources(template, 'AWS::S3::Bucket').find(([id]) => id === bucketId)![1];
    assert.equal(bucket.Properties?.VersioningConfiguration, undefined, 'the cache bucket is not versioned');
    assert.notEqual(bucketId, stack.getLogicalId(stack.pipeline.artifactBucket.node.defaultChild as never));
  });

  it('never lets failed builds expire the image production runs (ECR lifecycle)', () => {
    const [, repository] = only(template, 'AWS::ECR::Repository');
    const policy = (repository.Properties?.LifecyclePolicy as { LifecyclePolicyText: string }).LifecyclePolicyText;
    const production: Image = { tags: ['c0', `${DEPLOYED_TAG_PREFIX}c0`], ageDays: 200 };
    const failed: Image[] = Array.from({ length: 80 }, (_, i) => ({ tags: [`f${i}`], ageDays: i }));
    const expired = expiredBy(policy, [production, ...failed]);
    assert.ok(!expired.has(production), 'the deployed image survives 80 newer failed builds');
    assert.equal(expired.size, 30, 'the failed builds beyond 50 expire');
    // The last 10 deployed images stay (rollback targets); older deployed ones expire.
    const deployed: Image[] = Array.from({ length: 15 }, (_, i) => ({ tags: [`d${i}`, `${DEPLOYED_TAG_PREFIX}d${i}`], ageDays: i }));
    const gone = expiredBy(policy, deployed);
    assert.deepEqual([...gone].map((i) => i.tags[0]).sort(), ['d10', 'd11', 'd12', 'd13', 'd14']);
    // The model itself: the old "keep the last 50 images" rule would have expired production.
    const old = JSON.stringify({ rules: [{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 50 } }] });
    assert.ok(expiredBy(old, [production, ...failed]).has(production));
  });

  it('tags the deployed image after the Deploy stage, with the prefix the lifecycle rules protect', () => {
    const [, pipeline] = only(template, 'AWS::CodePipeline::Pipeline');
    const stages = pipeline.Properties?.Stages as Array<{ Name: string; Actions: Array<{ Configuration?: { ProjectName?: unknown } }> }>;
    assert.deepEqual(stages.map((s) => s.Name), ['Source', 'Build', 'Deploy', 'Release']);
    const projectId = JSON.stringify(stages[3].Actions[0].Configuration?.ProjectName).match(/"Ref":"([^"]+)"/)?.[1];
    const project = resources(template, 'AWS::CodeBuild::Project').find(([id]) => id === projectId)![1];
    const env = (project.Properties?.Environment as { EnvironmentVariables: Array<{ Name: string; Value: unknown }> }).EnvironmentVariables;
    assert.deepEqual(env.find((v) => v.Name === 'DEPLOYED_TAG_PREFIX')?.Value, DEPLOYED_TAG_PREFIX);
    const spec = (project.Properties?.Source as { BuildSpec: string }).BuildSpec;
    assert.match(spec, /aws ecr put-image .*--image-tag \\"\$deployed\\"/);
    const put = statements(template).filter((s) => s.Action.includes('ecr:PutImage') && s.where.startsWith('GreenlightPipelineMarkDeployed'));
    assert.equal(put.length, 1);
    assert.match(JSON.stringify(put[0].Resource), /GreenlightServiceRepository/);
  });

  it('pins the HTTPS listener\'s SSL policy by name', () => {
    const { template: https } = synth({ ...CONFIGURED, certificateArn: CERTIFICATE });
    https.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
    });
  });

  it('keeps the service\'s desiredCount constant whatever the capacity; only the scalable target follows', () => {
    const synthService = (minCapacity: number, maxCapacity: number) => {
      const s = new Stack(new App(), 'S');
      new GreenlightService(s, 'Service', { minCapacity, maxCapacity });
      const t = Template.fromStack(s);
      const [, service] = only(t, 'AWS::ECS::Service');
      const [, target] = only(t, 'AWS::ApplicationAutoScaling::ScalableTarget');
      return { desired: service.Properties?.DesiredCount, min: target.Properties?.MinCapacity, max: target.Properties?.MaxCapacity };
    };
    const small = synthService(1, 3);
    const large = synthService(5, 20);
    assert.equal(small.desired, large.desired);
    assert.deepEqual([small.min, small.max, large.min, large.max], [1, 3, 5, 20]);
    template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: small.desired });
  });
});
