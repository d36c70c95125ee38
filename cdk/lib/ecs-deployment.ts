import {
  Aspects,
  Duration,
  Stack,
  Validations,
  type aws_ec2 as ec2,
  aws_ecs as ecs,
  aws_iam as iam,
  type aws_lambda as lambda,
  type aws_logs as logs,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { DeploymentEngine } from './deployment-engine';
import { createHookFunction, validateHookSettings } from './hook';
import { ExplicitIamActions, nagResource } from './iam';
import type { IGreenlightEcsDeployment, IGreenlightEcsService } from './interfaces';

/** Properties of {@link GreenlightEcsDeployment}. */
export interface GreenlightEcsDeploymentProps {
  /**
   * The service (created with `deploymentEngine: DeploymentEngine.ECS`): a GreenlightService, or
   * your own implementation.
   */
  readonly service: IGreenlightEcsService;
  /**
   * The hook's code: a directory (or zip) whose `bootstrap` is the `greenlight-hook` binary for
   * Lambda's provided.al2023 runtime on x86_64 (the same binary serves both engines).
   * @default - the prebuilt hook this package ships (built in the project's CI from the same release)
   */
  readonly hookCode?: lambda.Code;
  /**
   * The hook Lambda's timeout. One invocation runs the checks for at most `hookTimeout` minus
   * 30 s and then answers IN_PROGRESS if rounds remain, so it never runs near its timeout.
   * @default Duration.seconds(120)
   */
  readonly hookTimeout?: Duration;
  /**
   * How long green may take, over all invocations, to pass every smoke round
   * (`HOOK_CHECK_WINDOW_SECONDS`); then the hook answers FAILED.
   * @default Duration.minutes(10)
   */
  readonly checkWindow?: Duration;
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
 * Amazon ECS blue/green for a {@link GreenlightService} created with the ECS engine: the
 * green-light hook Lambda (the same binary and network path as {@link GreenlightDeployment}'s)
 * registered as the service's POST_TEST_TRAFFIC_SHIFT lifecycle hook, with the role ECS invokes
 * it with.
 *
 * One stage: at POST_TEST_TRAFFIC_SHIFT green has all the test traffic and none of production,
 * the state CodeDeploy's AfterAllowTestTraffic checks. Earlier stages have no test traffic to
 * check; later ones come after production traffic has moved. ECS re-invokes only the
 * TEST_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT hooks on a rollback, so this hook never
 * stands in a rollback's way (the binary would pass such an invocation at once anyway).
 */
export class GreenlightEcsDeployment extends Construct implements IGreenlightEcsDeployment {
  /** The service the hook guards. */
  public readonly service: IGreenlightEcsService;
  public readonly hook: lambda.IFunction;
  public readonly hookRole: iam.Role;
  public readonly hookSecurityGroup: ec2.SecurityGroup;
  public readonly hookLogGroup: logs.LogGroup;
  /** What the hook reads: the green revision and its task definition. */
  public readonly hookRevisionPolicy: iam.Policy;
  /** The role ECS invokes the hook with (this one function only). */
  public readonly hookInvokeRole: iam.Role;
  /** The lifecycle stages the hook runs at. */
  public readonly lifecycleStages: ecs.DeploymentLifecycleStage[] = [ecs.DeploymentLifecycleStage.POST_TEST_TRAFFIC_SHIFT];

  constructor(scope: Construct, id: string, props: GreenlightEcsDeploymentProps) {
    super(scope, id);
    const { service } = props;
    this.service = service;
    if (service.deploymentEngine !== DeploymentEngine.ECS) {
      throw new Error(`${this.node.path}: the service must be created with deploymentEngine DeploymentEngine.ECS`);
    }
    const smokeRounds = props.smokeRounds ?? 3;
    const hookTimeout = props.hookTimeout ?? Duration.seconds(120);
    validateHookSettings(smokeRounds, hookTimeout);
    if (hookTimeout.toSeconds() < 60) {
      throw new Error(`hookTimeout: the ECS engine needs at least 60 s (30 s of checks per invocation), got ${hookTimeout.toSeconds()} s`);
    }
    const checkWindow = props.checkWindow ?? Duration.minutes(10);
    const windowSeconds = checkWindow.toSeconds();
    if (!Number.isInteger(windowSeconds) || windowSeconds < 60 || windowSeconds > 3600) {
      throw new Error(`checkWindow: must be 1 to 60 minutes, got ${windowSeconds} s`);
    }

    const hookFunction = createHookFunction(this, {
      service,
      description: 'Greenlight: ECS POST_TEST_TRAFFIC_SHIFT lifecycle hook (smoke-tests green on the test listener)',
      roleDescription: 'Greenlight hook: read the green revision of this service',
      code: props.hookCode,
      timeout: hookTimeout,
      smokeRounds,
      logRetention: props.hookLogRetention,
      environment: {
        // Per invocation: 30 s short of the timeout, leaving the answer and the log plenty.
        HOOK_DEADLINE_SECONDS: String(hookTimeout.toSeconds() - 30),
        HOOK_CHECK_WINDOW_SECONDS: String(windowSeconds),
        HOOK_CALLBACK_DELAY_SECONDS: '10',
        BOOTSTRAP_TASK_FAMILY: service.bootstrapTaskFamily,
      },
    });
    this.hook = hookFunction.hook;
    this.hookRole = hookFunction.hookRole;
    this.hookSecurityGroup = hookFunction.hookSecurityGroup;
    this.hookLogGroup = hookFunction.hookLogGroup;

    // DescribeServiceRevisions needs the service and the service-revision resource types
    // (Service Authorization Reference, Amazon ECS). A policy of its own, not the role's
    // default policy: the function depends on that one, and the service on the function.
    const stack = Stack.of(this);
    const revisions = stack.formatArn({
      service: 'ecs',
      resource: 'service-revision',
      resourceName: `${service.cluster.clusterName}/${service.service.serviceName}/*`,
    });
    this.hookRevisionPolicy = new iam.Policy(this, 'HookRevisionPolicy', {
      roles: [this.hookRole],
      statements: [
        new iam.PolicyStatement({
          actions: ['ecs:DescribeServiceRevisions'],
          resources: [service.service.serviceArn, revisions],
        }),
      ],
    });
    this.hookRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ecs:DescribeTaskDefinition'], resources: ['*'] }));

    // ECS assumes this role to invoke the hook (DeploymentLifecycleHook RoleArn).
    this.hookInvokeRole = new iam.Role(this, 'HookInvokeRole', {
      assumedBy: new iam.ServicePrincipal('ecs.amazonaws.com'),
      description: 'Greenlight ECS blue/green: invoke the green-light hook',
    });
    this.hookInvokeRole.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.hook.functionArn] }),
    );
    service.addLifecycleHook(
      new ecs.DeploymentLifecycleLambdaTarget(this.hook, 'GreenLight', {
        lifecycleStages: this.lifecycleStages,
        role: this.hookInvokeRole,
      }),
    );
    // ECS checks the hook's role when the service is created or updated: wait for its policy.
    const invokePolicy = this.hookInvokeRole.node.tryFindChild('DefaultPolicy');
    if (invokePolicy) service.service.node.addDependency(invokePolicy);

    Aspects.of(this).add(new ExplicitIamActions());
    Validations.of(this.hookRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecs:DescribeTaskDefinition (reading the green task definition\'s image to compare with /version) and the Lambda VPC network-interface actions (DescribeNetworkInterfaces also finds the ALB nodes\' addresses) have no resource-level permissions.',
    });
    Validations.of(this.hookRevisionPolicy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, revisions)}]`,
      reason: 'Service revisions get generated ids; the pattern is limited to the revisions of this cluster and service.',
    });
  }
}
