import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { CONTRACT } from '../lib/names';
import { codeDeployOf, CONFIGURED, egressRules, groupIdOf, logicalId, only, resources, statements, synth } from './helpers';

describe('GreenlightDeployment', () => {
  const { stack, template } = synth(CONFIGURED);
  const id = (c: Parameters<typeof logicalId>[1]) => logicalId(stack, c);
  const dgId = id(codeDeployOf(stack).deploymentGroup);
  const hookRoleId = id(codeDeployOf(stack).hookRole);
  const codeDeployRoleId = id(codeDeployOf(stack).codeDeployRole);

  it('wires both target groups, both listeners, the alarms and auto-rollback', () => {
    const [, dg] = only(template, 'AWS::CodeDeploy::DeploymentGroup');
    const p = dg.Properties ?? {};
    assert.deepEqual(p.DeploymentStyle, { DeploymentOption: 'WITH_TRAFFIC_CONTROL', DeploymentType: 'BLUE_GREEN' });
    const pair = (p.LoadBalancerInfo as { TargetGroupPairInfoList: Array<Record<string, unknown>> }).TargetGroupPairInfoList[0];
    assert.deepEqual(pair.TargetGroups, [
      { Name: { 'Fn::GetAtt': [id(stack.service.blueTargetGroup), 'TargetGroupName'] } },
      { Name: { 'Fn::GetAtt': [id(stack.service.greenTargetGroup), 'TargetGroupName'] } },
    ]);
    assert.deepEqual(pair.ProdTrafficRoute, { ListenerArns: [{ Ref: id(stack.service.productionListener) }] });
    assert.deepEqual(pair.TestTrafficRoute, { ListenerArns: [{ Ref: id(stack.service.testListener) }] });
    const alarms = p.AlarmConfiguration as { Enabled: boolean; Alarms: unknown[] };
    assert.equal(alarms.Enabled, true);
    // The load balancer's three and the chatbot's own three (TTFT, chat errors, interrupted streams).
    assert.deepEqual(alarms.Alarms, stack.service.alarms.map((alarm) => ({ Name: { Ref: id(alarm as unknown as Parameters<typeof id>[0]) } })));
    assert.equal(alarms.Alarms.length, 6);
    const rollback = p.AutoRollbackConfiguration as { Enabled: boolean; Events: string[] };
    assert.equal(rollback.Enabled, true);
    assert.deepEqual([...rollback.Events].sort(), ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM', 'DEPLOYMENT_STOP_ON_REQUEST']);
    assert.deepEqual(p.DeploymentConfigName, 'CodeDeployDefault.ECSCanary10Percent5Minutes');
    template.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      BlueGreenDeploymentConfiguration: {
        DeploymentReadyOption: { ActionOnTimeout: 'CONTINUE_DEPLOYMENT', WaitTimeInMinutes: 0 },
        TerminateBlueInstancesOnDeploymentSuccess: { Action: 'TERMINATE', TerminationWaitTimeInMinutes: 5 },
      },
    });
  });

  it('builds the hook from the Rust crate and points it at the test listener', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'provided.al2023',
      Handler: 'bootstrap',
      Architectures: ['x86_64'],
      VpcConfig: Match.objectLike({ SecurityGroupIds: [groupIdOf(stack, codeDeployOf(stack).hookSecurityGroup)] }),
      Environment: {
        Variables: {
          TEST_LISTENER_URL: { 'Fn::Join': ['', ['http://', Match.anyValue(), `:${CONTRACT.testListenerPort}`]] },
          TEST_LISTENER_LOAD_BALANCER: { 'Fn::GetAtt': [id(stack.service.loadBalancer), 'LoadBalancerFullName'] },
          SMOKE_ROUNDS: '3',
          CONTAINER_NAME: 'greenlight',
        },
      },
    });
  });

  it('sends the hook to the test listener inside the VPC, and to AWS APIs only on 443', () => {
    const hookSg = groupIdOf(stack, codeDeployOf(stack).hookSecurityGroup);
    const albSg = groupIdOf(stack, stack.service.loadBalancerSecurityGroup);
    const hookEgress = egressRules(template).filter((rule) => JSON.stringify(rule.GroupId) === JSON.stringify(hookSg));
    assert.deepEqual(
      hookEgress.map((rule) => [rule.FromPort, rule.DestinationSecurityGroupId ?? rule.CidrIp]).sort((a, b) => Number(a[0]) - Number(b[0])),
      [
        [443, '0.0.0.0/0'], // CodeDeploy, ECS and EC2 through the NAT
        [CONTRACT.testListenerPort, albSg],
      ],
    );
  });

  it('in VPC-endpoints mode, sends the hook to the interface endpoints only', () => {
    const { stack: endpoints, template: t } = synth({
      ...CONFIGURED,
      egress: 'vpc-endpoints',
      llmProvider: 'bedrock',
      llmModel: 'anthropic.claude-3-haiku-20240307-v1:0',
    });
    const ref = (c: Parameters<typeof groupIdOf>[1]) => groupIdOf(endpoints, c);
    const hookSg = JSON.stringify(ref(codeDeployOf(endpoints).hookSecurityGroup));
    const hookEgress = egressRules(t).filter((rule) => JSON.stringify(rule.GroupId) === hookSg);
    assert.deepEqual(
      hookEgress.map((rule) => [rule.FromPort, rule.DestinationSecurityGroupId]).sort((a, b) => Number(a[0]) - Number(b[0])),
      [
        [443, ref(endpoints.service.endpointSecurityGroup!)],
        [CONTRACT.testListenerPort, ref(endpoints.service.loadBalancerSecurityGroup)],
      ],
    );
    assert.ok(!hookEgress.some((rule) => rule.CidrIp), 'no CIDR egress without a NAT');
  });

  it('lets the hook report on this deployment group only', () => {
    const hook = statements(template).filter((s) => s.Action.some((a) => a.startsWith('codedeploy:')));
    const put = hook.filter((s) => s.Action.includes('codedeploy:PutLifecycleEventHookExecutionStatus'));
    assert.equal(put.length, 1);
    const dgArn = JSON.stringify(put[0].Resource);
    assert.ok(dgArn.includes(':deploymentgroup:') && dgArn.includes(dgId), dgArn);
    assert.ok(put[0].Action.includes('codedeploy:GetDeployment'));
    const [, policy] = resources(template, 'AWS::IAM::Policy').find(([, r]) => JSON.stringify(r).includes('PutLifecycleEventHookExecutionStatus'))!;
    assert.deepEqual(policy.Properties?.Roles, [{ Ref: hookRoleId }]);
    // ecs:DescribeTaskDefinition is the one unscoped read.
    const star = statements(template).filter((s) => s.where.startsWith('GreenlightDeploymentHookRole') && s.Resource.includes('*'));
    assert.deepEqual(star.flatMap((s) => s.Action).filter((a) => !a.startsWith('ec2:')), ['ecs:DescribeTaskDefinition']);
  });

  it('grants no wildcard action anywhere', () => {
    for (const s of statements(template)) {
      if (s.Effect !== 'Allow') continue;
      for (const action of s.Action) assert.ok(!action.includes('*'), `${s.where} allows ${action}`);
    }
    assert.ok(!JSON.stringify(template.toJSON()).includes('"codedeploy:*"'));
  });

  it('gives CodeDeploy an explicit role: no managed policy, invoke on the hook only', () => {
    const [, role] = resources(template, 'AWS::IAM::Role').find(([rid]) => rid === codeDeployRoleId)!;
    assert.equal(role.Properties?.ManagedPolicyArns, undefined);
    const invoke = statements(template).filter((s) => s.Action.includes('lambda:InvokeFunction'));
    assert.equal(invoke.length, 1);
    assert.equal(invoke[0].where.startsWith('GreenlightDeploymentCodeDeployRole'), true);
    assert.deepEqual(invoke[0].Resource[0], { 'Fn::GetAtt': [id(codeDeployOf(stack).hook), 'Arn'] });
    const modify = statements(template).find((s) => s.Action.includes('elasticloadbalancing:ModifyListener'))!;
    assert.deepEqual(modify.Resource, [{ Ref: id(stack.service.productionListener) }, { Ref: id(stack.service.testListener) }]);
  });
});
