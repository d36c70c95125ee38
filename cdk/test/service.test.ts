import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { CONTRACT } from '../lib/names';
import { codeDeployOf, CONFIGURED, groupIdOf, ingressRules, logicalId as logicalIdIn, only, resources, synth } from './helpers';

describe('GreenlightService', () => {
  const { stack, template } = synth(CONFIGURED);
  const logicalId = (c: Parameters<typeof logicalIdIn>[1]) => logicalIdIn(stack, c);
  const blue = logicalId(stack.service.blueTargetGroup);
  const green = logicalId(stack.service.greenTargetGroup);
  const albSg = JSON.stringify(groupIdOf(stack, stack.service.loadBalancerSecurityGroup));
  const onAlb = (rule: Record<string, unknown>) => JSON.stringify(rule.GroupId) === albSg;

  it('puts the production listener on 80 (forwarding to blue) and the test listener on 8080 (to green)', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: blue } }],
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: CONTRACT.testListenerPort,
      Protocol: 'HTTP',
      DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: green } }],
    });
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 2);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
  });

  it('gives both target groups the contract health check and deregistration delay', () => {
    const groups = resources(template, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    assert.equal(groups.length, 2);
    for (const [, tg] of groups) {
      const p = tg.Properties ?? {};
      assert.equal(p.TargetType, 'ip');
      assert.equal(p.Port, CONTRACT.containerPort);
      assert.equal(p.HealthCheckPath, '/health');
      assert.equal(p.HealthCheckIntervalSeconds, 5);
      assert.equal(p.HealthCheckTimeoutSeconds, 2);
      assert.equal(p.HealthyThresholdCount, 2);
      assert.equal(p.UnhealthyThresholdCount, 2);
      const attributes = p.TargetGroupAttributes as Array<{ Key: string; Value: string }>;
      assert.deepEqual(attributes.filter((a) => a.Key === 'deregistration_delay.timeout_seconds'), [
        { Key: 'deregistration_delay.timeout_seconds', Value: String(CONTRACT.deregistrationDelaySeconds) },
      ]);
    }
  });

  it('runs the service under CODE_DEPLOY, by family name, in private subnets without public IPs', () => {
    const [, service] = only(template, 'AWS::ECS::Service');
    const p = service.Properties ?? {};
    assert.deepEqual(p.DeploymentController, { Type: 'CODE_DEPLOY' });
    // A constant family string, not a revision ARN: CloudFormation never updates it.
    assert.equal(p.TaskDefinition, 'greenlight-bootstrap');
    assert.equal(p.LaunchType, 'FARGATE');
    const net = (p.NetworkConfiguration as { AwsvpcConfiguration: { AssignPublicIp: string; Subnets: Array<{ Ref: string }> } })
      .AwsvpcConfiguration;
    assert.equal(net.AssignPublicIp, 'DISABLED');
    for (const subnet of net.Subnets) assert.match(subnet.Ref, /privateSubnet/);
    assert.deepEqual(p.LoadBalancers, [
      { ContainerName: CONTRACT.containerName, ContainerPort: CONTRACT.containerPort, TargetGroupArn: { Ref: blue } },
    ]);
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });

  it('sets the drain chain: deregistration 30 s, DRAIN_SECONDS 25, stopTimeout 35 > 25', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'greenlight',
      Cpu: '256',
      Memory: '512',
      RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: [
        Match.objectLike({
          Name: CONTRACT.containerName,
          StopTimeout: 35,
          ReadonlyRootFilesystem: true,
          PortMappings: [Match.objectLike({ ContainerPort: 8080, Protocol: 'tcp' })],
          HealthCheck: Match.objectLike({ Command: ['CMD', '/greenlight', 'healthcheck'] }),
          Environment: Match.arrayWith([{ Name: 'DRAIN_SECONDS', Value: '25' }]),
        }),
      ],
    });
    assert.ok(CONTRACT.stopTimeoutSeconds > CONTRACT.drainSeconds);
    assert.ok(CONTRACT.deregistrationDelaySeconds > CONTRACT.drainSeconds);
    // The bootstrap revision answers /health on the same container name and port.
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'greenlight-bootstrap',
      ContainerDefinitions: [Match.objectLike({ Name: 'greenlight', StopTimeout: 35, User: '65534' })],
    });
  });

  it('keeps the test listener off the internet: only the hook\'s security group may reach 8080', () => {
    const hookSg = groupIdOf(stack, codeDeployOf(stack).hookSecurityGroup);
    const onTestPort = ingressRules(template).filter((rule) => rule.FromPort === 8080 && onAlb(rule));
    assert.deepEqual(
      onTestPort.map((rule) => [rule.SourceSecurityGroupId, rule.CidrIp, rule.CidrIpv6]),
      [[hookSg, undefined, undefined]],
    );
    const open = ingressRules(template).filter((rule) => rule.CidrIp === '0.0.0.0/0').map((rule) => rule.FromPort);
    assert.deepEqual(open, [80]);
    // No rule names a NAT address any more: the hook's path does not leave the VPC.
    assert.ok(!JSON.stringify(ingressRules(template)).includes('PublicIp'));
  });

  it('admits the CIDRs people list on the test listener, besides the hook', () => {
    const { template: listed } = synth({ ...CONFIGURED, testListenerAllowedCidrs: '203.0.113.0/24,2001:db8::/32' });
    const onTestPort = ingressRules(listed).filter((rule) => rule.FromPort === 8080 && onAlb(rule));
    assert.equal(onTestPort.length, 3);
    assert.ok(onTestPort.some((rule) => rule.CidrIp === '203.0.113.0/24'));
    assert.ok(onTestPort.some((rule) => rule.CidrIpv6 === '2001:db8::/32'));
  });

  it('writes only plain-ASCII security group descriptions', () => {
    const descriptions: string[] = [];
    for (const [, r] of resources(template)) {
      if (!r.Type.startsWith('AWS::EC2::SecurityGroup')) continue;
      const p = r.Properties ?? {};
      for (const key of ['GroupDescription', 'Description']) if (typeof p[key] === 'string') descriptions.push(p[key]);
      for (const list of ['SecurityGroupIngress', 'SecurityGroupEgress']) {
        for (const rule of (p[list] as Array<{ Description?: string }> | undefined) ?? []) {
          if (rule.Description) descriptions.push(rule.Description);
        }
      }
    }
    assert.ok(descriptions.length >= 5, `found ${descriptions.length} descriptions`);
    for (const d of descriptions) assert.match(d, /^[\x20-\x7e]*$/, `non-ASCII in ${JSON.stringify(d)}`);
  });

  it('creates the ECR repository with immutable tags, scan on push and a lifecycle policy', () => {
    template.hasResourceProperties('AWS::ECR::Repository', {
      ImageTagMutability: 'IMMUTABLE',
      ImageScanningConfiguration: { ScanOnPush: true },
      LifecyclePolicy: { LifecyclePolicyText: Match.stringLikeRegexp('countNumber') },
    });
  });

  it('scales on CPU and on requests per task, 2 to 6 tasks', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 6 });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
      }),
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', { PolicyType: 'StepScaling' });
  });

  it('alarms on 5xx, unhealthy hosts and p95 latency', () => {
    // 2 for request step scaling, 3 on the load balancer, 3 on the chatbot's own metrics.
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2 + 3 + 3);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { ExtendedStatistic: 'p95', MetricName: 'TargetResponseTime' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'MAX([FILL(blue, 0), FILL(green, 0)])' })]),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([Match.objectLike({ Expression: 'FILL(target5xx, 0) + FILL(elb5xx, 0)' })]),
    });
  });

  it('uses NAT egress by default', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
  });
});

describe('GreenlightService options', () => {
  it('HTTPS mode listens on 443 with the certificate and redirects 80', () => {
    const { template } = synth({
      ...CONFIGURED,
      certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0123abcd-0123-4567-89ab-0123456789ab',
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: Match.stringLikeRegexp('certificate/') }],
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      DefaultActions: [{ Type: 'redirect', RedirectConfig: Match.objectLike({ Port: '443', Protocol: 'HTTPS', StatusCode: 'HTTP_301' }) }],
    });
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 3);
  });

  it('VPC-endpoints mode has no NAT gateway, the endpoints, and S3 through its prefix list', () => {
    const { template } = synth({ ...CONFIGURED, egress: 'vpc-endpoints', llmProvider: 'bedrock', llmModel: 'anthropic.claude-3-haiku-20240307-v1:0' });
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::EIP', 0);
    const services = resources(template, 'AWS::EC2::VPCEndpoint').map(([, r]) => JSON.stringify(r.Properties?.ServiceName));
    for (const name of ['ecr.api', 'ecr.dkr', 'logs', 'secretsmanager', 'bedrock-runtime', 's3', 'codedeploy', 'ecs', 'ec2']) {
      assert.ok(services.some((s) => s.includes(`.${name}`)), `endpoint ${name} in ${services.join(' ')}`);
    }
    template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
      DestinationPrefixListId: Match.anyValue(),
      FromPort: 443,
      ToPort: 443,
    });
  });

  it('scopes Bedrock to the configured model', () => {
    const { template } = synth({ ...CONFIGURED, llmProvider: 'bedrock', llmModel: 'anthropic.claude-3-haiku-20240307-v1:0' });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          {
            Action: ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'],
            Effect: 'Allow',
            Resource: {
              'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('::foundation-model/anthropic.claude-3-haiku-20240307-v1:0$')])],
            },
          },
        ],
      },
    });
  });

  it('gives the OpenAI provider its key from Secrets Manager', () => {
    const { template } = synth({ ...CONFIGURED, llmProvider: 'openai', llmModel: 'gpt-4o-mini' });
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'greenlight',
      ContainerDefinitions: [Match.objectLike({ Secrets: [{ Name: 'OPENAI_API_KEY', ValueFrom: Match.anyValue() }] })],
    });
  });

  it('rejects settings that cannot work, naming the field', () => {
    assert.throws(() => synth({ ...CONFIGURED, llmProvider: 'bedrock' }), /llmModel: required/);
    assert.throws(() => synth({ ...CONFIGURED, egress: 'vpc-endpoints', llmProvider: 'openai' }), /egress: VPC_ENDPOINTS/);
    assert.throws(() => synth({ ...CONFIGURED, testListenerAllowedCidrs: '0.0.0.0/0' }), /testListenerAllowedCidrs: '0.0.0.0\/0'/);
    assert.throws(() => synth({ ...CONFIGURED, llmProvider: 'gemini' }), /context llmProvider: 'gemini' is not one of/);
    assert.throws(() => synth({ ...CONFIGURED, repository: 'no-slash' }), /context repository: 'no-slash' must be owner\/name/);
  });
});
