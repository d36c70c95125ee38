import {
  Aspects,
  Duration,
  Stack,
  Validations,
  aws_codedeploy as codedeploy,
  type aws_ec2 as ec2,
  aws_iam as iam,
  type aws_lambda as lambda,
  type aws_logs as logs,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { DeploymentEngine } from './deployment-engine';
import { createHookFunction, validateHookSettings } from './hook';
import { ExplicitIamActions, nagResource } from './iam';
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
    if (service.deploymentEngine !== DeploymentEngine.CODEDEPLOY) {
      throw new Error(`${this.node.path}: the service must be created with deploymentEngine DeploymentEngine.CODEDEPLOY (use GreenlightEcsDeployment for DeploymentEngine.ECS)`);
    }
    const stack = Stack.of(this);
    const smokeRounds = props.smokeRounds ?? 3;
    const hookTimeout = props.hookTimeout ?? Duration.minutes(5);
    validateHookSettings(smokeRounds, hookTimeout);

    // ---- the green-light hook (shared with the ECS engine) ----
    const hookFunction = createHookFunction(this, {
      service,
      description: 'Greenlight: CodeDeploy AfterAllowTestTraffic hook (smoke-tests green on the test listener)',
      roleDescription: 'Greenlight hook: report the lifecycle status of this deployment group only',
      code: props.hookCode,
      timeout: hookTimeout,
      smokeRounds,
      logRetention: props.hookLogRetention,
    });
    this.hook = hookFunction.hook;
    this.hookRole = hookFunction.hookRole;
    this.hookSecurityGroup = hookFunction.hookSecurityGroup;
    this.hookLogGroup = hookFunction.hookLogGroup;

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
