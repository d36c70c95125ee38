import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { hookCodeFromSource } from '../bin/hook-from-source';
import { DeploymentEngine, EcsTrafficShift, GreenlightDeployment, GreenlightEcsDeployment, GreenlightPipeline, GreenlightService } from '../lib';
import { CONFIGURED, ecsDeploymentOf, logicalId, only, resources, statements, synth } from './helpers';

const ECS: Record<string, unknown> = { ...CONFIGURED, deploymentEngine: 'ecs' };

describe('the ECS deployment engine', () => {
  const { stack, template } = synth(ECS);
  const id = (c: Parameters<typeof logicalId>[1]) => logicalId(stack, c);
  const deployment = ecsDeploymentOf(stack);
  const [serviceId, service] = only(template, 'AWS::ECS::Service');
  const props = service.Properties ?? {};
  const config = props.DeploymentConfiguration as Record<string, unknown>;

  it('puts the service under the ECS controller with a blue/green strategy, bake time and circuit breaker', () => {
    assert.deepEqual(props.DeploymentController, { Type: 'ECS' });
    assert.equal(config.Strategy, 'BLUE_GREEN');
    assert.equal(config.BakeTimeInMinutes, 5);
    assert.deepEqual(config.DeploymentCircuitBreaker, { Enable: true, Rollback: true });
    assert.equal(config.MinimumHealthyPercent, 100);
    assert.equal(config.MaximumPercent, 200);
    assert.equal(template.findResources('AWS::CodeDeploy::DeploymentGroup') && Object.keys(template.findResources('AWS::CodeDeploy::DeploymentGroup')).length, 0);
    assert.equal(Object.keys(template.findResources('AWS::CodeDeploy::Application')).length, 0);
  });

  it('rolls back on the same six alarms (load balancer and chatbot)', () => {
    const alarms = config.Alarms as { AlarmNames: unknown[]; Enable: boolean; Rollback: boolean };
    assert.equal(alarms.Enable, true);
    assert.equal(alarms.Rollback, true);
    assert.deepEqual(
      alarms.AlarmNames,
      stack.service.alarms.map((alarm) => ({ Ref: id(alarm as unknown as Parameters<typeof logicalId>[1]) })),
    );
    assert.equal(alarms.AlarmNames.length, 6);
  });

  it('registers the hook at POST_TEST_TRAFFIC_SHIFT with a role that may invoke only it', () => {
    const hookId = id(deployment.hook);
    const invokeRoleId = id(deployment.hookInvokeRole);
    assert.deepEqual(config.LifecycleHooks, [
      {
        HookTargetArn: { 'Fn::GetAtt': [hookId, 'Arn'] },
        LifecycleStages: ['POST_TEST_TRAFFIC_SHIFT'],
        RoleArn: { 'Fn::GetAtt': [invokeRoleId, 'Arn'] },
      },
    ]);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'ecs.amazonaws.com' } })] },
      Description: 'Greenlight ECS blue/green: invoke the green-light hook',
    });
    const invoke = statements(template).filter((s) => s.Action.includes('lambda:InvokeFunction'));
    assert.deepEqual(invoke.map((s) => s.Resource), [[{ 'Fn::GetAtt': [hookId, 'Arn'] }]]);
  });

  it('gives the hook what the ECS engine needs: the revision, one invocation\'s deadline, the bootstrap family', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'provided.al2023',
      Timeout: 120,
      Environment: {
        Variables: Match.objectLike({
          HOOK_DEADLINE_SECONDS: '90',
          HOOK_CHECK_WINDOW_SECONDS: '600',
          HOOK_CALLBACK_DELAY_SECONDS: '10',
          BOOTSTRAP_TASK_FAMILY: 'greenlight-bootstrap',
          SMOKE_ROUNDS: '3',
          CONTAINER_NAME: 'greenlight',
        }),
      },
    });
    const revisions = statements(template).filter((s) => s.Action.includes('ecs:DescribeServiceRevisions'));
    assert.equal(revisions.length, 1);
    assert.deepEqual(revisions[0].Action, ['ecs:DescribeServiceRevisions']);
    assert.equal(revisions[0].where, id(deployment.hookRevisionPolicy));
    assert.deepEqual(revisions[0].Resource[0], { Ref: serviceId });
    assert.match(JSON.stringify(revisions[0].Resource[1]), /service-revision\//);
    // No CodeDeploy permission on an ECS hook.
    assert.deepEqual(statements(template).filter((s) => s.Action.some((a) => a.startsWith('codedeploy:'))), []);
  });

  it('shifts traffic with a rule per listener over both target groups, green as the alternate target', () => {
    const blue = id(stack.service.blueTargetGroup);
    const green = id(stack.service.greenTargetGroup);
    const traffic = stack.service.ecsTraffic;
    assert.ok(traffic);
    const rules = resources(template, 'AWS::ElasticLoadBalancingV2::ListenerRule');
    assert.equal(rules.length, 2);
    for (const [ruleId, listener] of [
      [id(traffic.productionRule), stack.service.productionListener],
      [id(traffic.testRule), stack.service.testListener],
    ] as const) {
      const rule = rules.find(([rid]) => rid === ruleId)?.[1].Properties ?? {};
      assert.deepEqual(rule.ListenerArn, { Ref: id(listener) });
      assert.deepEqual(rule.Actions, [
        {
          Type: 'forward',
          ForwardConfig: {
            TargetGroups: [
              { TargetGroupArn: { Ref: blue }, Weight: 100 },
              { TargetGroupArn: { Ref: green }, Weight: 0 },
            ],
          },
        },
      ]);
    }
    assert.deepEqual(props.LoadBalancers, [
      {
        ContainerName: 'greenlight',
        ContainerPort: 8080,
        TargetGroupArn: { Ref: blue },
        AdvancedConfiguration: {
          AlternateTargetGroupArn: { Ref: green },
          ProductionListenerRule: { Ref: id(traffic.productionRule) },
          TestListenerRule: { Ref: id(traffic.testRule) },
          RoleArn: { 'Fn::GetAtt': [id(traffic.loadBalancerRole), 'Arn'] },
        },
      },
    ]);
  });

  it('scopes the load balancer role to this service\'s target groups, listeners and rules (no managed policy)', () => {
    const traffic = stack.service.ecsTraffic;
    assert.ok(traffic);
    const roleId = id(traffic.loadBalancerRole);
    const role = resources(template, 'AWS::IAM::Role').find(([rid]) => rid === roleId)?.[1].Properties ?? {};
    assert.equal(role.ManagedPolicyArns, undefined);
    const mine = statements(template).filter((s) => s.where.startsWith(roleId.replace(/[0-9A-F]{8}$/, '')));
    const byAction = (action: string) => mine.find((s) => s.Action.includes(action))?.Resource;
    const ref = (c: Parameters<typeof logicalId>[1]) => ({ Ref: id(c) });
    assert.deepEqual(byAction('elasticloadbalancing:RegisterTargets'), [ref(stack.service.blueTargetGroup), ref(stack.service.greenTargetGroup)]);
    assert.deepEqual(byAction('elasticloadbalancing:ModifyListener'), [ref(stack.service.productionListener), ref(stack.service.testListener)]);
    assert.deepEqual(byAction('elasticloadbalancing:ModifyRule'), [ref(traffic.productionRule), ref(traffic.testRule)]);
    assert.deepEqual(byAction('elasticloadbalancing:DescribeTargetHealth'), ['*']);
    assert.equal(mine.length, 4, JSON.stringify(mine));
  });

  it('runs the pipeline\'s image tag, or the bootstrap placeholder while there is none', () => {
    const parameter = stack.service.imageTagParameter;
    assert.ok(parameter);
    const parameterId = stack.getLogicalId(parameter);
    const params = template.toJSON().Parameters as Record<string, { Default?: string; AllowedPattern?: string }>;
    assert.equal(params[parameterId].Default, '');
    const pattern = new RegExp(params[parameterId].AllowedPattern ?? 'missing');
    assert.ok(pattern.test('') && pattern.test('0123456789abcdef0123456789abcdef01234567'));
    assert.ok(!pattern.test('evil.example.com/image:1') && !pattern.test('a b'));
    const appTd = id(stack.service.taskDefinition);
    const bootstrapTd = id(stack.service.bootstrapTaskDefinition);
    const all = template.toJSON() as { Resources: Record<string, { Condition?: string }>; Conditions: Record<string, unknown> };
    const condition = all.Resources[appTd].Condition;
    assert.ok(condition);
    assert.deepEqual(all.Conditions[condition], { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: parameterId }, ''] }] });
    assert.deepEqual(props.TaskDefinition, { 'Fn::If': [condition, { Ref: appTd }, { Ref: bootstrapTd }] });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'greenlight',
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'greenlight',
          Image: { 'Fn::Join': ['', Match.arrayWith([{ Ref: parameterId }])] },
        }),
      ],
    });
    // Nothing else refers to the conditional revision (CloudFormation would refuse the template).
    const refs = JSON.stringify(all.Resources).split(`"Ref":"${appTd}"`).length - 1;
    assert.equal(refs, 1);
  });

  it('names the ECS outputs and none of CodeDeploy\'s', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    assert.equal(outputs.ImageTagParameter.Value, stack.getLogicalId(stack.service.imageTagParameter!));
    assert.ok(outputs.HookFunctionName);
    assert.equal(outputs.DeploymentGroupName, undefined);
    assert.equal(outputs.CodeDeployApplicationName, undefined);
  });

  it('deploys through CloudFormation: a Deploy project that may update this stack only', () => {
    const [, pipeline] = only(template, 'AWS::CodePipeline::Pipeline');
    const stages = (pipeline.Properties?.Stages ?? []) as Array<{ Name: string; Actions: Array<{ ActionTypeId: { Provider: string } }> }>;
    assert.deepEqual(
      stages.map((s) => [s.Name, s.Actions[0].ActionTypeId.Provider]),
      [['Source', 'CodeStarSourceConnection'], ['Build', 'CodeBuild'], ['Deploy', 'CodeBuild'], ['Release', 'CodeBuild']],
    );
    const projects = resources(template, 'AWS::CodeBuild::Project');
    const deployProject = projects.find(([, p]) => JSON.stringify(p.Properties).includes('IMAGE_TAG_PARAMETER'));
    assert.ok(deployProject);
    const env = (deployProject[1].Properties?.Environment ?? {}) as { PrivilegedMode?: boolean; EnvironmentVariables: Array<{ Name: string; Value: unknown }> };
    assert.notEqual(env.PrivilegedMode, true);
    const value = (name: string) => env.EnvironmentVariables.find((v) => v.Name === name)?.Value;
    assert.equal(value('IMAGE_TAG_PARAMETER'), stack.getLogicalId(stack.service.imageTagParameter!));
    assert.deepEqual(value('STACK_NAME'), { Ref: 'AWS::StackName' });
    const cfn = statements(template).filter((s) => s.Action.some((a) => a.startsWith('cloudformation:')));
    assert.equal(cfn.length, 1);
    assert.deepEqual(cfn[0].Action, ['cloudformation:DescribeStacks', 'cloudformation:UpdateStack']);
    assert.match(JSON.stringify(cfn[0].Resource), /:stack\/","\{"Ref":"AWS::StackName"\}|stack\/.*AWS::StackName/);
    const passRole = statements(template).filter((s) => s.Action.includes('iam:PassRole') && JSON.stringify(s.Resource).includes('cfn-exec-role'));
    assert.equal(passRole.length, 1);
  });
});

describe('ECS engine options', () => {
  function service(options: ConstructorParameters<typeof GreenlightService>[2]): Template {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
    const s = new GreenlightService(stack, 'Service', options);
    if (s.deploymentEngine === DeploymentEngine.ECS) new GreenlightEcsDeployment(stack, 'Deployment', { service: s, hookCode: hookCodeFromSource() });
    return Template.fromStack(stack);
  }
  const strategyOf = (t: Template) => (only(t, 'AWS::ECS::Service')[1].Properties?.DeploymentConfiguration ?? {}) as Record<string, unknown>;

  it('offers CANARY and LINEAR with step percent and step bake time', () => {
    const canary = strategyOf(service({ deploymentEngine: DeploymentEngine.ECS, ecsDeployment: { trafficShift: EcsTrafficShift.CANARY, stepPercent: 10, stepBakeTime: Duration.minutes(3), bakeTime: Duration.minutes(15) } }));
    assert.equal(canary.Strategy, 'CANARY');
    assert.deepEqual(canary.CanaryConfiguration, { CanaryPercent: 10, CanaryBakeTimeInMinutes: 3 });
    assert.equal(canary.BakeTimeInMinutes, 15);
    const linear = strategyOf(service({ deploymentEngine: DeploymentEngine.ECS, ecsDeployment: { trafficShift: EcsTrafficShift.LINEAR } }));
    assert.equal(linear.Strategy, 'LINEAR');
    assert.deepEqual(linear.LinearConfiguration, { StepPercent: 20, StepBakeTimeInMinutes: 5 });
  });

  it('rejects settings that cannot work, naming the field', () => {
    assert.throws(() => service({ ecsDeployment: {} }), /ecsDeployment: applies to deploymentEngine DeploymentEngine.ECS only/);
    assert.throws(
      () => service({ deploymentEngine: DeploymentEngine.ECS, ecsDeployment: { stepPercent: 10 } }),
      /stepPercent and stepBakeTime apply to CANARY and LINEAR only/,
    );
    assert.throws(
      () => service({ deploymentEngine: DeploymentEngine.ECS, ecsDeployment: { trafficShift: EcsTrafficShift.LINEAR, stepPercent: 2 } }),
      /ecsDeployment.stepPercent: must be a multiple of 0.1 from 3 to 100 for LINEAR, got 2/,
    );
    assert.throws(
      () => service({ deploymentEngine: DeploymentEngine.ECS, ecsDeployment: { bakeTime: Duration.hours(25) } }),
      /ecsDeployment.bakeTime: must be whole minutes from 0 to 1440/,
    );
    assert.throws(() => synth({ ...ECS, deploymentEngine: 'rolling' }), /context deploymentEngine: 'rolling' is not one of codedeploy, ecs/);
    assert.throws(() => synth({ ...CONFIGURED, ecsTrafficShift: 'CANARY' }), /ecsTrafficShift: applies to deploymentEngine ecs only/);
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
    const codeDeployService = new GreenlightService(stack, 'Service');
    assert.throws(
      () => new GreenlightEcsDeployment(stack, 'Deployment', { service: codeDeployService }),
      /the service must be created with deploymentEngine DeploymentEngine.ECS/,
    );
  });

  it('keeps engines and services apart across the interfaces', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'S');
    const hookCode = hookCodeFromSource();
    const ecsService = new GreenlightService(stack, 'Ecs', { deploymentEngine: DeploymentEngine.ECS });
    assert.throws(
      () => new GreenlightDeployment(stack, 'CodeDeploy', { service: ecsService, hookCode }),
      /S\/CodeDeploy: the service must be created with deploymentEngine DeploymentEngine.CODEDEPLOY/,
    );
    const codeDeployService = new GreenlightService(stack, 'Plain');
    assert.throws(() => codeDeployService.addLifecycleHook({} as never), /lifecycle hooks need deploymentEngine DeploymentEngine.ECS/);
    const ecsDeployment = new GreenlightEcsDeployment(stack, 'EcsDeployment', { service: ecsService, hookCode });
    const pipeline = (id: string, service: GreenlightService) =>
      new GreenlightPipeline(stack, id, {
        service,
        ecsDeployment,
        connectionArn: 'arn:aws:codeconnections:eu-west-1:123456789012:connection/0123abcd-0123-4567-89ab-0123456789ab',
        repositoryOwner: 'o',
        repositoryName: 'r',
      });
    assert.throws(() => pipeline('Wrong', codeDeployService), /ecsDeployment deploys S\/Ecs, not the pipeline's service S\/Plain/);
    assert.equal(pipeline('Right', ecsService).deployProject?.node.id, 'DeployProject');
  });
});
