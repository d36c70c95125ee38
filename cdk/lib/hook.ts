import { CfnResource, Duration, aws_ec2 as ec2, aws_iam as iam, aws_lambda as lambda, aws_logs as logs } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { dropRedundantDependsOn } from './cfn';
import { prebuiltHookCode } from './hook-code';
import type { IGreenlightService } from './interfaces';
import { CONTRACT } from './names';

/** What the green-light hook Lambda is built from and how it runs (either engine). */
export interface HookFunctionOptions {
  readonly service: IGreenlightService;
  /** The Lambda's description (says which engine invokes it). */
  readonly description: string;
  /** The role's description. */
  readonly roleDescription: string;
  /** The hook's code (the `bootstrap` binary); the package's prebuilt hook when undefined. */
  readonly code?: lambda.Code;
  readonly timeout: Duration;
  readonly smokeRounds: number;
  readonly logRetention?: logs.RetentionDays;
  /** Environment beyond the test listener, rounds and container name. */
  readonly environment?: Record<string, string>;
}

/** The green-light hook: the same Rust binary and network path for both deployment engines. */
export interface HookFunction {
  readonly hook: lambda.Function;
  readonly hookRole: iam.Role;
  readonly hookSecurityGroup: ec2.SecurityGroup;
  readonly hookLogGroup: logs.LogGroup;
}

/** Checks the hook settings both engines share. */
export function validateHookSettings(smokeRounds: number, timeout: Duration): void {
  if (!Number.isInteger(smokeRounds) || smokeRounds < 1 || smokeRounds > 20) {
    throw new Error(`smokeRounds: must be an integer from 1 to 20, got ${smokeRounds}`);
  }
  if (timeout.toSeconds() < 30 || timeout.toSeconds() > 900) {
    throw new Error(`hookTimeout: must be 30 s to 15 min (the Lambda limit), got ${timeout.toSeconds()} s`);
  }
}

/**
 * The hook Lambda (the `greenlight-hook` binary), in the service's VPC: its security
 * group (the test listener at the ALB nodes' private addresses, and HTTPS to AWS APIs), log group
 * and role with the VPC network-interface actions. What the hook may read or report is the
 * engine's to grant. Constructs are created in `scope` (the deployment), so their logical ids do
 * not depend on this file.
 */
export function createHookFunction(scope: Construct, o: HookFunctionOptions): HookFunction {
  const { service } = o;
  const hookSecurityGroup = new ec2.SecurityGroup(scope, 'HookSecurityGroup', {
    vpc: service.vpc,
    description: 'Greenlight hook: HTTPS to AWS APIs, HTTP to the test listener',
    allowAllOutbound: false,
  });
  // The hook connects to the ALB nodes' private addresses (it looks them up per invocation),
  // so the path stays inside the VPC in either egress mode and the test listener can admit
  // exactly this security group; the public addresses would need a NAT and would hide it.
  hookSecurityGroup.addEgressRule(
    service.loadBalancerSecurityGroup,
    ec2.Port.tcp(CONTRACT.testListenerPort),
    'Test listener at the ALB nodes private addresses',
  );
  service.allowTestTrafficFrom(hookSecurityGroup, 'Test listener from the green-light hook');
  if (service.endpointSecurityGroup) {
    hookSecurityGroup.addEgressRule(
      service.endpointSecurityGroup,
      ec2.Port.tcp(443),
      'HTTPS to the CodeDeploy, ECS and EC2 interface endpoints',
    );
  } else {
    hookSecurityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to the CodeDeploy, ECS and EC2 APIs through the NAT');
  }
  const hookLogGroup = new logs.LogGroup(scope, 'HookLogs', {
    retention: o.logRetention ?? logs.RetentionDays.ONE_MONTH,
  });
  const hookRole = new iam.Role(scope, 'HookRole', {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: o.roleDescription,
  });
  const hook = new lambda.Function(scope, 'Hook', {
    code: o.code ?? prebuiltHookCode(),
    handler: 'bootstrap',
    runtime: lambda.Runtime.PROVIDED_AL2023,
    // x86_64: the static musl binary the package ships (rust-toolchain.toml pins that target).
    architecture: lambda.Architecture.X86_64,
    description: o.description,
    role: hookRole,
    vpc: service.vpc,
    vpcSubnets: service.taskSubnets,
    securityGroups: [hookSecurityGroup],
    timeout: o.timeout,
    memorySize: 256,
    logGroup: hookLogGroup,
    environment: {
      TEST_LISTENER_URL: service.testListenerUrl,
      TEST_LISTENER_LOAD_BALANCER: service.loadBalancerFullName,
      SMOKE_ROUNDS: String(o.smokeRounds),
      CONTAINER_NAME: CONTRACT.containerName,
      ...o.environment,
    },
  });
  hookLogGroup.grantWrite(hookRole);
  dropRedundantDependsOn(hook.node.defaultChild as CfnResource, hookRole.node.defaultChild as CfnResource);
  // A Lambda in a VPC manages its own network interfaces (what AWSLambdaVPCAccessExecutionRole
  // grants, written out instead of attaching the managed policy). DescribeNetworkInterfaces
  // also finds the ALB nodes' private addresses.
  hookRole.addToPrincipalPolicy(
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
  return { hook, hookRole, hookSecurityGroup, hookLogGroup };
}
