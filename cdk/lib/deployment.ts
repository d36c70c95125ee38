import {
  Aspects,
  CfnResource,
  Duration,
  Stack,
  Validations,
  aws_codedeploy as codedeploy,
  aws_ec2 as ec2,
  aws_iam as iam,
  aws_lambda as lambda,
  aws_logs as logs,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { dropRedundantDependsOn } from './cfn';
import { ExplicitIamActions, nagResource } from './iam';
import { CONTRACT } from './names';
import { prebuiltHookCode } from './hook-code';
import type { IGreenlightDeployment, IGreenlightService } from './interfaces';

/** Properties of {@link GreenlightDeployment}. */
export interface GreenlightDeploymentProps {
  /** The service to deploy blue/green (a GreenlightService, or your own implementation). */
  readonly service: IGreenlightService;
  /**
   * How production traffic moves to green once the hook has green-lit it. Canary 10 % for
   * 5 minutes: the hook has already proven green on the test listener, so the canary exposes a
   * tenth of real users while the alarms watch, and a bad build rolls back before most see it.
   * @default codedeploy.EcsDeploymentConfig.CANARY_10PERCENT_5MINUTES
   */
  readonly deploymentConfig?: codedeploy.IEcsDeploymentConfig;
  /**
   * How long blue keeps running after the shift (an instant rollback target meanwhile).
   * @default Duration.minutes(5)
   */
  readonly terminationWaitTime?: Duration;
  /**
   * The hook's code: a directory (or zip) whose `bootstrap` is the `greenlight-hook` binary for
   * Lambda's provided.al2023 runtime on x86_64 (e.g. `lambda.Code.fromAsset(dir)` after
   * `cargo build --release --target x86_64-unknown-linux-musl -p greenlight-hook`).
   * @default - the prebuilt hook this package ships (built in the project's CI from the same release)
   */
  readonly hookCode?: lambda.Code;
  /**
   * The hook Lambda's timeout (its whole run, all smoke rounds).
   * @default Duration.minutes(5)
   */
  readonly hookTimeout?: Duration;
  /**
   * Smoke rounds the hook runs (`SMOKE_ROUNDS`); every round must pass.
   * @default 3
   */
  readonly smokeRounds?: number;
  /**
   * Retention of the hook's logs.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly hookLogRetention?: logs.RetentionDays;
}

/**
 * CodeDeploy blue/green for a {@link GreenlightService}: the application, the deployment group
 * (both target groups, production and test listeners, auto-rollback on failure, stop and the
 * service's alarms) and the green-light hook Lambda built from the Rust crate.
 */
export class GreenlightDeployment extends Construct implements IGreenlightDeployment {
  public readonly application: codedeploy.EcsApplication;
  public readonly deploymentGroup: codedeploy.IEcsDeploymentGroup;
  /** The role CodeDeploy acts with: explicit and scoped, no AWSCodeDeployRoleForECS. */
  public readonly codeDeployRole: iam.Role;
  public readonly hook: lambda.IFunction;
  public readonly hookRole: iam.Role;
  /** The hook's CodeDeploy permissions (scoped to this deployment group and application). */
  public readonly hookDeploymentPolicy: iam.Policy;
  public readonly hookSecurityGroup: ec2.SecurityGroup;
  public readonly hookLogGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: GreenlightDeploymentProps) {
    super(scope, id);
    const { service } = props;
    const stack = Stack.of(this);
    const smokeRounds = props.smokeRounds ?? 3;
    if (!Number.isInteger(smokeRounds) || smokeRounds < 1 || smokeRounds > 20) {
      throw new Error(`smokeRounds: must be an integer from 1 to 20, got ${smokeRounds}`);
    }
    const hookTimeout = props.hookTimeout ?? Duration.minutes(5);
    if (hookTimeout.toSeconds() < 30 || hookTimeout.toSeconds() > 900) {
      throw new Error(`hookTimeout: must be 30 s to 15 min (the Lambda limit), got ${hookTimeout.toSeconds()} s`);
    }

    // ---- the green-light hook ----
    this.hookSecurityGroup = new ec2.SecurityGroup(this, 'HookSecurityGroup', {
      vpc: service.vpc,
      description: 'Greenlight hook: HTTPS to AWS APIs, HTTP to the test listener',
      allowAllOutbound: false,
    });
    // The hook connects to the ALB nodes' private addresses (it looks them up per invocation),
    // so the path stays inside the VPC in either egress mode and the test listener can admit
    // exactly this security group; the public addresses would need a NAT and would hide it.
    this.hookSecurityGroup.addEgressRule(
      service.loadBalancerSecurityGroup,
      ec2.Port.tcp(CONTRACT.testListenerPort),
      'Test listener at the ALB nodes private addresses',
    );
    service.allowTestTrafficFrom(this.hookSecurityGroup, 'Test listener from the green-light hook');
    if (service.endpointSecurityGroup) {
      this.hookSecurityGroup.addEgressRule(
        service.endpointSecurityGroup,
        ec2.Port.tcp(443),
        'HTTPS to the CodeDeploy, ECS and EC2 interface endpoints',
      );
    } else {
      this.hookSecurityGroup.addEgressRule(
        ec2.Peer.anyIpv4(),
        ec2.Port.tcp(443),
        'HTTPS to the CodeDeploy, ECS and EC2 APIs through the NAT',
      );
    }
    this.hookLogGroup = new logs.LogGroup(this, 'HookLogs', {
      retention: props.hookLogRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    this.hookRole = new iam.Role(this, 'HookRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Greenlight hook: report the lifecycle status of this deployment group only',
    });
    this.hook = new lambda.Function(this, 'Hook', {
      code: props.hookCode ?? prebuiltHookCode(),
      handler: 'bootstrap',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      // x86_64: the static musl binary the package ships (rust-toolchain.toml pins that target).
      architecture: lambda.Architecture.X86_64,
      description: 'Greenlight: CodeDeploy AfterAllowTestTraffic hook (smoke-tests green on the test listener)',
      role: this.hookRole,
      vpc: service.vpc,
      vpcSubnets: service.taskSubnets,
      securityGroups: [this.hookSecurityGroup],
      timeout: hookTimeout,
      memorySize: 256,
      logGroup: this.hookLogGroup,
      environment: {
        TEST_LISTENER_URL: service.testListenerUrl,
        TEST_LISTENER_LOAD_BALANCER: service.loadBalancerFullName,
        SMOKE_ROUNDS: String(smokeRounds),
        CONTAINER_NAME: CONTRACT.containerName,
      },
    });
    this.hookLogGroup.grantWrite(this.hookRole);
    dropRedundantDependsOn(this.hook.node.defaultChild as CfnResource, this.hookRole.node.defaultChild as CfnResource);
    // A Lambda in a VPC manages its own network interfaces (what AWSLambdaVPCAccessExecutionRole
    // grants, written out instead of attaching the managed policy). DescribeNetworkInterfaces
    // also finds the ALB nodes' private addresses.
    this.hookRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    );

    // ---- CodeDeploy ----
    this.application = new codedeploy.EcsApplication(this, 'Application');
    this.codeDeployRole = new iam.Role(this, 'CodeDeployRole', {
      assumedBy: new iam.ServicePrincipal('codedeploy.amazonaws.com'),
      description: 'Greenlight CodeDeploy: blue/green of this one service',
    });
    this.deploymentGroup = new codedeploy.EcsDeploymentGroup(this, 'DeploymentGroup', {
      application: this.application,
      service: service.service,
      // An immutable reference: the deployment group would otherwise attach the broad
      // AWSCodeDeployRoleForECS managed policy; grantCodeDeploy() gives the scoped equivalent.
      role: iam.Role.fromRoleArn(this, 'CodeDeployRoleRef', this.codeDeployRole.roleArn, { mutable: false }),
      blueGreenDeploymentConfig: {
        blueTargetGroup: service.blueTargetGroup,
        greenTargetGroup: service.greenTargetGroup,
        listener: service.productionListener,
        testListener: service.testListener,
        terminationWaitTime: props.terminationWaitTime ?? Duration.minutes(5),
      },
      deploymentConfig: props.deploymentConfig ?? codedeploy.EcsDeploymentConfig.CANARY_10PERCENT_5MINUTES,
      alarms: service.alarms,
      autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
    });

    // The hook reports its verdict for deployments of this group only, and reads what it checks.
    // A policy of its own (not the role's default policy, which the function depends on):
    // the deployment group it names depends on the function through CodeDeploy's invoke grant.
    this.hookDeploymentPolicy = new iam.Policy(this, 'HookDeploymentPolicy', {
      roles: [this.hookRole],
      statements: [
        new iam.PolicyStatement({
          actions: ['codedeploy:PutLifecycleEventHookExecutionStatus', 'codedeploy:GetDeployment'],
          resources: [this.deploymentGroup.deploymentGroupArn],
        }),
      ],
    });
    this.hookRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['ecs:DescribeTaskDefinition'], resources: ['*'] }),
    );

    this.grantCodeDeploy(service, stack);
    // CodeDeploy checks its permissions when the group is created: wait for the policy.
    const codeDeployPolicy = this.codeDeployRole.node.tryFindChild('DefaultPolicy');
    if (codeDeployPolicy) this.deploymentGroup.node.addDependency(codeDeployPolicy);
    Aspects.of(this).add(new ExplicitIamActions());
    this.acknowledgeFindings(service, stack);
  }

  /**
   * What CodeDeploy needs for an ECS blue/green deployment of this service: the actions of the
   * AWSCodeDeployRoleForECS managed policy, each scoped to this service, its listeners, alarms,
   * hook and task roles.
   */
  private grantCodeDeploy(service: IGreenlightService, stack: Stack): void {
    const role = this.codeDeployRole;
    const taskSetArn = stack.formatArn({
      service: 'ecs',
      resource: 'task-set',
      resourceName: `${service.cluster.clusterName}/${service.service.serviceName}/*`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ecs:DescribeServices', 'ecs:CreateTaskSet', 'ecs:UpdateServicePrimaryTaskSet', 'ecs:DeleteTaskSet'],
        resources: [service.service.serviceArn, taskSetArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'elasticloadbalancing:DescribeTargetGroups',
          'elasticloadbalancing:DescribeListeners',
          'elasticloadbalancing:DescribeRules',
          'elasticloadbalancing:DescribeTargetHealth',
        ],
        resources: ['*'],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['elasticloadbalancing:ModifyListener'],
        resources: [service.productionListener.listenerArn, service.testListener.listenerArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['elasticloadbalancing:ModifyRule'],
        resources: [
          stack.formatArn({
            service: 'elasticloadbalancing',
            resource: 'listener-rule',
            resourceName: `${service.loadBalancerFullName}/*`,
          }),
        ],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:DescribeAlarms'],
        resources: service.alarms.map((alarm) => alarm.alarmArn),
      }),
    );
    const passRoles = [service.taskRole.roleArn, service.executionRole.roleArn];
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: passRoles,
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    // Explicit invoke on this one function (the managed policy would only allow CodeDeployHook_*).
    this.hook.grantInvoke(role);
  }

  private acknowledgeFindings(service: IGreenlightService, stack: Stack): void {
    Validations.of(this.hookRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecs:DescribeTaskDefinition (reading the green task definition\'s image to compare with /version) and the Lambda VPC network-interface actions (DescribeNetworkInterfaces also finds the ALB nodes\' addresses) have no resource-level permissions; both codedeploy actions are scoped to this deployment group.',
    });
    Validations.of(this.codeDeployRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'elasticloadbalancing:Describe* have no resource-level permissions; the mutating calls (ModifyListener, ModifyRule) are scoped to this load balancer.',
    });
    const taskSets = stack.formatArn({
      service: 'ecs',
      resource: 'task-set',
      resourceName: `${service.cluster.clusterName}/${service.service.serviceName}/*`,
    });
    Validations.of(this.codeDeployRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, taskSets)}]`,
      reason: 'Task sets get generated ids; the pattern is limited to the task sets of this cluster and service.',
    });
    const rules = stack.formatArn({
      service: 'elasticloadbalancing',
      resource: 'listener-rule',
      resourceName: `${service.loadBalancerFullName}/*`,
    });
    Validations.of(this.codeDeployRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, rules)}]`,
      reason: 'Listener rules get generated ids; the pattern is limited to the rules of this one load balancer.',
    });
    Validations.of(this.codeDeployRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, this.hook.functionArn)}:*]`,
      reason: 'Versions and aliases of this one hook function (lambda:InvokeFunction, added by grantInvoke).',
    });
  }
}
